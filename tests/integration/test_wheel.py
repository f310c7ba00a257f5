"""The built wheel works outside the checkout: the bundled rolls, the kickstart templates and the
schemas are package data.

Exactly what a user does: build the wheel (`pip wheel --no-deps`), install it into a fresh venv
(--system-site-packages for Debian's rpm/dnf bindings) outside the checkout, and run `rocks`
from another directory with a fresh ROCKS_STATE. The dependencies are the project venv's own
(already resolved from the index): the fresh venv sees that venv's site-packages through a .pth
line, which Python appends after the venv's own site-packages — so `rocks` itself is imported
from the wheel (asserted), never from the checkout. A .pth in a directory added that way is not
processed, so the checkout's editable install stays inert.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                       **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, f"{' '.join(argv)}:\n{r.stdout}\n{r.stderr}"
    return r  # type: ignore[no-any-return]


def test_an_installed_wheel_compiles_the_bundled_rolls(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(dist), str(REPO)], cwd=tmp_path)
    wheel = next(dist.glob("rocks-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("rocks/data/rolls/base/roll.xml", "rocks/data/rolls/base/nodes/compute.xml",
                 "rocks/data/rolls/base/graphs/default/base.xml",
                 "rocks/data/kickstart_templates/el9/kickstart.ks.j2",
                 "rocks/data/kickstart_templates/el10/kickstart.ks.j2",
                 "rocks/data/schemas/node.rng", "rocks/server/templates/index.html",
                 "rocks/inventory/migrations/versions/0001_initial_schema.py"):
        assert data in names, f"{data} is not in {wheel.name}"

    venv = tmp_path / "venv"
    _run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)])
    purelib = Path(_run([str(venv / "bin/python"), "-c",
                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                        ).stdout.strip())
    (purelib / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps",
          "--no-index", str(wheel)])

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCKS_")
           and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ROCKS_STATE"] = str(tmp_path / "state")
    where = _run([str(venv / "bin/python"), "-c", "import rocks; print(rocks.__file__)"],
                 cwd=work, env=env).stdout.strip()
    assert where.startswith(str(purelib)), where
    rocks = str(venv / "bin" / "rocks")
    check = _run([rocks, "check", "graph"], cwd=work, env=env).stdout
    assert "roll base: bundled, enabled, untrusted" in check
    assert "appliance compute: compute, " in check
    assert check.rstrip().endswith("4 appliances: 0 errors, 0 warnings")
    ks = _run([rocks, "list", "appliance", "profile", "compute"], cwd=work, env=env).stdout
    assert "# rocks: base:nodes/" in ks and "\n%packages" in ks
    assert _run([rocks, "list", "appliance"], cwd=work, env=env).stdout.startswith("APPLIANCE")
    assert (tmp_path / "state" / "site" / "nodes").is_dir()  # the state init made the site
