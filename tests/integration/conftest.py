"""Fixtures of the boot tests: the privilege check and the assets of scripts/e2e_assets.py
(Debian's kernel, the test installer's two stages, the test OS RPMs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import optional_skip
from tests.integration.cluster import Assets
from tests.integration.netlab import lab_unavailable

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("qemu-system-x86_64", "dnsmasq", "curl", "busybox", "dpkg-deb", "apt-get", "rpmbuild",
         "createrepo_c", "mksquashfs", "ssh", "ssh-keygen", "sfdisk", "mkfs.xfs", "mkfs.vfat",
         "extlinux")


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
def assets(lab_ok: None) -> Assets:
    """The boot tests' assets from scripts/e2e_assets.py (cached by content: built once)."""
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "e2e_assets.py")],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"e2e_assets.py failed:\n{r.stdout}{r.stderr}"
    found = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    return Assets(Path(found["KERNEL"]), Path(found["INITRD"]), Path(found["STAGE2"]),
                  Path(found["TESTOS"]))
