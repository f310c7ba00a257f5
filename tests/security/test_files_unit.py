"""The shipped systemd unit raises the descriptor limit (the frontend caps its connections
below it) and is what the bootstrap installs; systemd itself checks it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "frontend" / "rocks-frontend.service"


def test_unit_sets_limits_and_a_private_umask() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert int(service["LimitNOFILE"]) >= 65536
    assert service["UMask"] == "0077"
    assert "rocks start frontend" in service["ExecStart"]
    assert "rocks-frontend.service" in (REPO / "frontend" / "bootstrap.sh").read_text()


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (apt-get install systemd)"
    copy = tmp_path / "rocks-frontend.service"
    # the venv of a real frontend is not here: point ExecStart at a binary that exists
    copy.write_text(UNIT.read_text().replace("/opt/rocks/venv/bin/rocks", "/bin/true"))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "rocks-frontend.service" not in r.stderr, r.stderr
