"""The trial Vagrantfile validates (libvirt provider, Debian's vagrant + vagrant-libvirt)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import require_tool

VAGRANT_DIR = Path(__file__).resolve().parents[2] / "vagrant"


def test_vagrantfile_validates(tmp_path: Path) -> None:
    require_tool("vagrant", "vagrant vagrant-libvirt")
    env = dict(os.environ, VAGRANT_DEFAULT_PROVIDER="libvirt", VAGRANT_CHECKPOINT_DISABLE="1",
               VAGRANT_HOME=str(tmp_path / "home"),
               VAGRANT_DOTFILE_PATH=str(tmp_path / "dot"))
    r = subprocess.run(["vagrant", "validate"], cwd=VAGRANT_DIR, capture_output=True, text=True,
                       env=env, timeout=300)
    out = r.stdout + r.stderr
    assert "provider 'libvirt' could not be found" not in out, (
        "install the vagrant-libvirt package (scripts/apt-packages.txt)")
    assert r.returncode == 0, out
    assert "Vagrantfile validated successfully." in out
