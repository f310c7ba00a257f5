"""Fixtures of the boot tests: the privilege check and the kernel + stand-in installer assets."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import optional_skip
from tests.integration.netlab import lab_unavailable

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("qemu-system-x86_64", "dnsmasq", "curl", "busybox", "dpkg-deb", "apt-get")


def matrix_enabled() -> bool:
    return os.environ.get("ROCKS_E2E_MATRIX", "") not in ("", "0", "no")


@pytest.fixture(scope="session")
def lab_ok() -> None:
    if os.geteuid() != 0:
        optional_skip("not-root", "the boot tests need root (network namespaces, taps, DHCP)")
    reason = lab_unavailable()
    # Not a skip: on a machine with the privilege, a lab that cannot start is a setup bug.
    assert reason is None, reason
    missing = [t for t in TOOLS if shutil.which(t) is None]
    # Not a skip: on a machine with the privilege, a missing package is a setup bug.
    assert not missing, f"missing tools {missing}: run scripts/setup.sh (scripts/apt-packages.txt)"


@pytest.fixture(scope="session")
def assets(lab_ok: None) -> tuple[Path, Path]:
    """(kernel, initrd) from scripts/e2e-assets.sh (cached; built once)."""
    r = subprocess.run(["bash", str(REPO / "scripts" / "e2e-assets.sh")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"e2e-assets.sh failed:\n{r.stdout}{r.stderr}"
    found = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    return Path(found["KERNEL"]), Path(found["INITRD"])
