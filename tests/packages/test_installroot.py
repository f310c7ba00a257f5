"""One real `dnf --installroot` install from a built distribution, scriptlets included."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocks.packages.distro import create_distro
from rocks.packages.installroot import install_into
from rocks.packages.roll import add_roll
from tests.conftest import require_tool
from tests.packages.conftest import RollDirMaker

# dnf install needs root, even in an installroot
pytestmark = pytest.mark.usefixtures("root", "dnf")


@pytest.fixture
def dnf() -> str:
    return require_tool("dnf", "dnf")


def test_install_group_runs_post_in_root(roll_dir: RollDirMaker, tmp_path: Path) -> None:
    rec = add_roll(
        roll_dir("node", ["base-files", "config", "busybox-sh", "mailx", "postfix-lite"],
                 comps={"core": ["config"]}),
        tmp_path / "store",
    )
    repo = create_distro([rec], tmp_path / "distro").path
    root = tmp_path / "root"
    res = install_into(root, repo, ["mailx"], ["core"])
    assert res.ok, res.output
    assert res.installed == (
        "base-files-1.0-1.noarch", "config-1.0-1.noarch", "mailx-1.0-1.noarch",
        "postfix-lite-1.0-1.noarch", "rocks-busybox-sh-1.0-1.noarch",
    )
    # %post ran inside the root with /bin/sh from the busybox package; rpmdb where RHEL keeps it
    assert (root / "etc" / "rocks-test" / "post-ran").read_text() == "post 1\n"
    assert (root / "var" / "lib" / "rpm" / "rpmdb.sqlite").is_file()
    assert not (root / "root" / ".rpmdb").exists()
    failed = install_into(tmp_path / "root2", repo, ["no-such-package"])
    assert failed.returncode == 1
    assert "Unable to find a match: no-such-package" in failed.output
    assert failed.installed == ()
