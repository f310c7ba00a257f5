"""`rocks try appliance|host`: a test roll's packages (a busybox /bin/sh among them) installed
into a directory with dnf, its %post scripts run chrooted there; a failing one is reported with
its node file and line, and the command fails."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.inventory import open_inventory
from rocks.inventory.catalog import add_appliance
from rocks.model.inventory import Appliance
from tests.packages.rpmtools import make_busybox_rpm, make_rpm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("root"),  # dnf --installroot and chroot need root
]

NODES = "nodes"  # as shown: relative to the roll, whatever the working directory
GOOD = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package>rocks-busybox-sh</package>
    <package>trial-app</package>
    <post>
    echo "configured &hostname;" > /etc/trial-ok
    cat /etc/trial-app/version
    </post>
    </kickstart>
    """)
BROKEN = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <post>
    echo "about to fail"
    ls /no/such/dir
    exit 3
    </post>
    </kickstart>
    """)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    roll = tmp_path / "trial"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "roll.xml").write_text('<roll name="trial" interface="4.0"><info version="1.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    (roll / "nodes" / "trybox.xml").write_text(GOOD)
    (roll / "nodes" / "broken.xml").write_text(BROKEN)
    (roll / "graphs" / "default" / "trial.xml").write_text(
        '<graph><edge from="trybox" to="broken"/></graph>\n')
    make_busybox_rpm(roll / "RPMS")
    make_rpm("trial-app", "1.2", dest=roll / "RPMS",
             files={"/etc/trial-app/version": "trial-app 1.2\n"},
             post="echo installed > /etc/trial-app/scriptlet-ran")
    e = {"ROCKS_STATE": str(state)}
    for argv in (["add", "roll", str(roll)], ["enable", "roll", "trial"],
                 ["create", "distro", "force=yes"]):  # no OS roll: a try needs none
        r = run_cli(argv, env=e)
        assert r.code == 0, (argv, r.stderr)
    # `rocks add appliance` checks the node against the bundled graph only, not store rolls
    with open_inventory(str(state / "rocks.db")) as inv, inv.transaction() as s:
        add_appliance(s, Appliance("trybox", "trybox"))
    r = run_cli(["add", "host", "tb-7", "appliance=trybox"], env=e)
    assert r.code == 0, r.stderr
    return e


def test_try_appliance_reports_each_post_with_its_node_file(
        env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    r = run_cli(["try", "appliance", "trybox", f"root={root}"], env=env)
    assert r.code != 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["SCRIPT", "ORIGIN", "STATUS"]
    # the traversal reaches broken (an edge of trybox) before trybox's own body
    assert [line.split() for line in lines[1:3]] == [
        ["post-01", "/bin/sh", f"trial:{NODES}/broken.xml:3", "exit", "3"],
        ["post-02", "/bin/sh", f"trial:{NODES}/trybox.xml:5", "ok"],
    ]
    assert lines[4] == (f"--- post-01 (trial:{NODES}/broken.xml:3 "
                        "(node broken, via trybox -> broken)): exit 3")
    assert lines[5] == "about to fail"
    assert "/no/such/dir" in lines[6]
    assert f"{NODES}/broken.xml:3" in r.stderr and "%post script 1 of 2: exit 3" in r.stderr
    # the packages really are in the root, their scriptlet ran, and so did the good %post
    assert (root / "etc/trial-app/version").read_text() == "trial-app 1.2\n"
    assert (root / "etc/trial-app/scriptlet-ran").read_text() == "installed\n"
    # appliance previews use the appliance's sample host name
    assert (root / "etc/trial-ok").read_text() == "configured trybox-0-0\n"
    assert (root / "bin/sh").is_symlink()
    assert not list((root / "tmp").glob("rocks-try-*"))


def test_try_host_uses_the_hosts_values(env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "host-root"
    r = run_cli(["try", "host", "tb-7", f"root={root}"], env=env)
    assert r.code != 0
    assert (root / "etc/trial-ok").read_text() == "configured tb-7\n"
    assert f"trial:{NODES}/broken.xml:3  exit 3" in r.stdout


def test_try_appliance_without_a_distribution_says_how(tmp_path: Path) -> None:
    e = {"ROCKS_STATE": str(tmp_path / "empty")}
    r = run_cli(["try", "appliance", "compute", f"root={tmp_path / 'r'}"], env=e)
    assert r.code != 0
    assert "no distribution at" in r.stderr and "rocks create distro" in r.stderr
