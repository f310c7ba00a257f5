"""A distribution needs an OS roll: `create distro` without one is an error naming the fix, and a
distribution built without one anyway (force=yes) gives `set host boot` one "add an OS roll"
error instead of one error per base package."""

from __future__ import annotations

from pathlib import Path

from rocks.cli.context import run_cli
from tests.packages.rpmtools import comps_xml, make_os_media, make_rpm

HINT = ("  hint: add the OS installation DVD as a roll and rebuild: rocks add roll "
        "Rocky-9-x86_64-dvd.iso; rocks enable roll os; rocks create distro\n")


def tools_roll(tmp_path: Path) -> Path:
    root = tmp_path / "tools"
    (root / "nodes").mkdir(parents=True)
    (root / "graphs" / "default").mkdir(parents=True)
    (root / "roll.xml").write_text('<roll name="tools" interface="4.0"><info version="1.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    make_rpm("hello", "2.0", dest=root / "RPMS")
    return root


def test_create_distro_without_an_os_roll(tmp_path: Path) -> None:
    env = {"ROCKS_STATE": str(tmp_path / "state"), "ROCKS_SYNC_ROOT": str(tmp_path / "root")}

    def ok(*argv: str) -> str:
        r = run_cli(list(argv), env=env)
        assert r.code == 0, (argv, r.stderr)
        return r.stdout

    distro = tmp_path / "state" / "distro"
    r = run_cli(["create", "distro"], env=env)  # nothing enabled at all
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == ("error: no enabled OS roll, and no other roll with packages "
                        "[no-os-roll]\n" + HINT)
    ok("add", "roll", str(tools_roll(tmp_path)))
    ok("enable", "roll", "tools")
    r = run_cli(["create", "distro"], env=env)
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == ("error: no enabled OS roll: the distribution would have no base "
                        "packages and no installer (1 other roll enabled) [no-os-roll]\n" + HINT)
    assert not distro.exists()

    # built anyway: the package check says the one thing that matters
    assert ": 1 packages, 0 comps groups in " in ok("create", "distro", "force=yes")
    assert (distro / "repodata").is_dir()
    ok("add", "network", "private", "subnet=10.1.0.0", "netmask=255.255.0.0", "pxe=yes")
    ok("add", "host", "compute-0-0")
    ok("add", "host", "interface", "compute-0-0", "eth0", "ip=10.1.255.254",
       "mac=52:54:00:00:00:01")
    one_error = (f"error: the distribution at {distro} has no OS roll (built with force=yes) "
                 "[no-os-roll]\n" + HINT)
    tftp = tmp_path / "root" / "tftpboot"

    def boot_tree() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(tftp.rglob("*")) if p.is_file()}

    before = boot_tree()  # (the interface went live: the host's files exist, booting its disk)
    r = run_cli(["set", "host", "boot", "compute-0-0", "action=install"], env=env)
    assert (r.code, r.stdout, r.stderr) == (2, "", one_error)
    assert ok("list", "host", "boot", "output-format=csv") == "host,action\ncompute-0-0,os\n"
    assert boot_tree() == before and "token=" not in str(before)
    r = run_cli(["check", "host", "packages", "compute-0-0"], env=env)
    assert (r.code, r.stderr) == (2, one_error)
    r = run_cli(["check", "appliance", "compute"], env=env)
    assert (r.code, r.stderr) == (2, one_error)

    # with the OS roll the distribution builds, and the check depsolves package by package
    rpms = [make_rpm("bash", "5.1", dest=tmp_path / "osrpms")]
    media = make_os_media(tmp_path / "dvd", {"BaseOS": (rpms, comps_xml({"core": ["bash"]}))})
    ok("add", "roll", str(media))
    ok("enable", "roll", "os")
    assert ": 2 packages, 1 comps groups in " in ok("create", "distro")
    assert (distro / ".treeinfo").is_file()
    r = run_cli(["set", "host", "boot", "compute-0-0", "action=install"], env=env)
    assert r.code == 2 and "[no-os-roll]" not in r.stderr
    assert "[package-missing]" in r.stderr  # this tiny OS roll lacks the base roll's packages
