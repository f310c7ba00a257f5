"""The README's CLI tour, run as written: the block after its `<!-- tour: … -->` marker goes to
bash (`set -euo pipefail`: every line must succeed) with the venv's `rocks` on PATH, in an empty
directory, as a user pastes it. The machine's own files must not change: a "production"
rocks.toml naming another state, database and sync root is in force, and the tour's
`export ROCKS_STATE=…` must keep every write inside the trial directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MARKER = "<!-- tour: tested by tests/cli/test_readme_tour.py -->"


def tour() -> str:
    text = (REPO / "README.md").read_text()
    assert MARKER in text, "the README lost its tour marker"
    block = text.split(MARKER, 1)[1].lstrip("\n")
    assert block.startswith("```sh\n")
    return block[len("```sh\n"):block.index("\n```")] + "\n"


def test_tour_starts_with_the_state_directory() -> None:
    first = tour().splitlines()[0]
    assert first.startswith("export ROCKS_STATE=")


def test_readme_tour_runs_line_by_line(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    prod = tmp_path / "production"
    conf = tmp_path / "rocks.toml"
    conf.write_text(f'state = "{prod / "state"}"\nsync_root = "{prod / "root"}"\n'
                    'database_url = "postgresql://nobody@127.0.0.1:1/production"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")}
    env.update(PATH=f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
               HOME=str(tmp_path), ROCKS_CONFIG=str(conf))
    script = "set -euo pipefail\nset -x\n" + tour()
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    trial = work / "rocks-trial"
    assert (trial / "rocks.db").is_file()
    root = trial / "root"
    hosts = (root / "etc/hosts").read_text()
    assert "compute-0-0.local compute-0-0" in hosts and "compute-1-0" not in hosts
    assert (root / "etc/dhcp/dhcpd.conf").is_file()
    # compute-0-0 was set to install, then rack0 back to os: no host's own boot file is left
    assert sorted(p.name for p in (root / "tftpboot/pxelinux.cfg").iterdir()) == ["default"]
    assert "host compute-0-0-eth0 {" in done.stdout  # report host dhcpd compute-0-0
    assert "2 hosts set to os" in done.stdout
    assert not prod.exists()  # the configured site was never touched
