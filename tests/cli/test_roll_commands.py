"""Rolls through the CLI with real RPMs: create, add, enable, distro, depsolve with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from tests.packages.rpmtools import comps_xml, make_os_media, make_rpm

NODE = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package>hello</package>
    <package>{missing}</package>
    <post>echo hello</post>
    </kickstart>
    """)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    return {"ROCKS_STATE": str(tmp_path / "state")}


def site_roll(tmp_path: Path, missing: str = "") -> Path:
    root = tmp_path / "hpc"
    (root / "nodes").mkdir(parents=True)
    (root / "graphs" / "default").mkdir(parents=True)
    (root / "RPMS").mkdir()
    (root / "roll.xml").write_text('<roll name="hpc" interface="4.0"><info version="2.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    (root / "nodes" / "hpc.xml").write_text(NODE.format(missing=missing or "hello"))
    (root / "graphs" / "default" / "hpc.xml").write_text(
        '<graph><edge from="compute" to="hpc"/></graph>\n')
    make_rpm("hello", "2.0", dest=root / "RPMS", requires=["mta"])
    return root


def os_media(tmp_path: Path) -> Path:
    rpms = [make_rpm("hello", "1.0", dest=tmp_path / "osrpms"),
            make_rpm("postfix", "3.5", dest=tmp_path / "osrpms", provides=["mta"]),
            make_rpm("bash", "5.1", dest=tmp_path / "osrpms")]
    return make_os_media(tmp_path / "dvd", {"BaseOS": (rpms, comps_xml({"core": ["bash"]}))})


def test_roll_lifecycle_and_dependency_check(tmp_path: Path, env: dict[str, str]) -> None:
    roll = site_roll(tmp_path, missing="no-such-package")
    r = run_cli(["create", "roll", str(roll), "format=tar", f"dir={tmp_path}"], env=env)
    assert r.code == 0, r.stderr
    artifact = Path(r.stdout.strip())
    assert artifact.name == "hpc-2.0-1.x86_64.disk1.tar.gz"

    r = run_cli(["add", "roll", str(artifact), str(os_media(tmp_path))], env=env)
    assert r.code == 0, r.stderr
    assert r.stderr == ("hpc 2.0 x86_64: copied 1 package, 1 node file\n"
                        "os 9.4 x86_64: copied 3 packages, 0 node files\n"
                        "enable with: rocks enable roll hpc os\n")
    r = run_cli(["add", "roll", str(artifact)], env=env)
    assert r.code == 2 and "roll-exists" in r.stderr

    assert run_cli(["enable", "roll", "hpc", "os"], env=env).code == 0
    r = run_cli(["list", "roll", "output-format=csv"], env=env)
    assert r.stdout.splitlines() == [
        "name,version,arch,os,enabled,trusted,source",
        "base,-,-,linux,yes,no,bundled",
        "hpc,2.0,x86_64,linux,yes,no,store",
        "os,9.4,x86_64,linux,yes,no,store",
    ]
    r = run_cli(["create", "distro"], env=env)
    assert r.code == 0, r.stderr
    assert ": 3 packages, 1 comps groups in " in r.stdout
    rpms = sorted(p.name for p in (Path(env["ROCKS_STATE"]) / "distro").rglob("*.rpm"))
    assert [n for n in rpms if n.startswith("hello")] == ["hello-2.0-1.noarch.rpm"]
    assert run_cli(["create", "distro"], env=env).stdout.endswith(": unchanged (3 packages)\n")

    # the compute appliance now reaches hpc.xml, which asks for a package nobody ships
    r = run_cli(["check", "appliance", "compute"], env=env)
    assert r.code == 2
    ours = [ln for ln in r.stderr.splitlines() if "no-such-package" in ln]
    assert ours == ["hpc:nodes/hpc.xml:4: error: cannot install "
                    "no-such-package: no package provides it [package-missing]"]
    # the base roll's packages are located at their own lines too
    assert "base:nodes/base.xml:33: error: cannot install chrony" in r.stderr

    # disabling the roll removes its node from the graph: the check passes
    assert run_cli(["disable", "roll", "hpc"], env=env).code == 0
    r = run_cli(["check", "appliance", "compute"], env=env)
    assert r.code == 2  # the base roll's own packages are not on this tiny OS roll
    assert "no-such-package" not in r.stderr


def test_bad_sources_add_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    bare = tmp_path / "bare"
    (bare / "nodes").mkdir(parents=True)
    r = run_cli(["add", "roll", str(bare)], env=env)
    assert r.code == 2 and "[roll-no-metadata]" in r.stderr
    bad_iso = tmp_path / "broken.iso"
    bad_iso.write_bytes(b"\0" * 4096)
    r = run_cli(["add", "roll", str(bad_iso)], env=env)
    assert r.code == 2
    assert run_cli(["list", "roll", "output-format=csv"], env=env).stdout.splitlines() == [
        "name,version,arch,os,enabled,trusted,source", "base,-,-,linux,yes,no,bundled"]
    store = Path(env["ROCKS_STATE"]) / "rolls"
    assert not store.exists() or not any(p for p in store.iterdir() if not p.name.startswith("."))


def rpmbuild_layout_roll(tmp_path: Path) -> Path:
    """A roll whose packages sit where rpmbuild puts them: RPMS/<arch>/."""
    root = tmp_path / "tools"
    (root / "nodes").mkdir(parents=True)
    (root / "graphs" / "default").mkdir(parents=True)
    (root / "roll.xml").write_text('<roll name="tools" interface="4.0"><info version="1.0" '
                                   'release="1" arch="x86_64" os="linux"/></roll>\n')
    (root / "nodes" / "tools.xml").write_text(NODE.format(missing="extra"))
    (root / "graphs" / "default" / "tools.xml").write_text(
        '<graph><edge from="compute" to="tools"/></graph>\n')
    make_rpm("hello", "2.0", dest=root / "RPMS" / "noarch")
    make_rpm("extra", "1.0", dest=root / "RPMS" / "x86_64")
    return root


def test_add_roll_finds_rpmbuild_layout_and_says_what_it_copied(tmp_path: Path,
                                                                env: dict[str, str]) -> None:
    roll = rpmbuild_layout_roll(tmp_path)
    r = run_cli(["add", "roll", str(roll), "output-format=csv"], env=env)
    assert r.code == 0, r.stderr
    assert r.stderr == ("tools 1.0 x86_64: copied 2 packages, 1 node file\n"
                        "enable with: rocks enable roll tools\n")
    store = Path(env["ROCKS_STATE"]) / "rolls" / "tools" / "1.0" / "x86_64"
    assert r.stdout.splitlines() == [
        "name,version,arch,os,enabled,packages,nodes,path",
        f"tools,1.0,x86_64,linux,no,2,1,{store}"]
    assert sorted(p.name for p in (store / "RPMS").iterdir()) == [
        "extra-1.0-1.noarch.rpm", "hello-2.0-1.noarch.rpm"]
    # the ISO built from the same tree carries both packages too
    r = run_cli(["create", "roll", str(roll), f"dir={tmp_path / 'out'}"], env=env)
    assert r.code == 0, r.stderr
    iso = Path(r.stdout.strip())
    r = run_cli(["add", "roll", str(iso), "clean=yes"], env=env)
    assert r.code == 0 and r.stderr.startswith("tools 1.0 x86_64: copied 2 packages, 1 node file")


def test_re_add_keeps_the_roll_enabled(tmp_path: Path, env: dict[str, str]) -> None:
    roll = rpmbuild_layout_roll(tmp_path)
    assert run_cli(["add", "roll", str(roll)], env=env).code == 0
    assert run_cli(["enable", "roll", "tools"], env=env).code == 0
    assert run_cli(["set", "roll", "tools", "trusted=yes"], env=env).code == 0
    r = run_cli(["add", "roll", str(roll), "clean=yes"], env=env)
    assert r.code == 0, r.stderr
    assert r.stderr == ("warning: roll tools was trusted; its new content is not\n"
                        "  hint: rocks set roll tools trusted=yes\n"
                        "tools 1.0 x86_64: copied 2 packages, 1 node file\n")
    listed = run_cli(["list", "roll", "tools", "output-format=csv"], env=env).stdout
    assert listed.splitlines()[1] == "tools,1.0,x86_64,linux,yes,no,store"
    # still enabled where it counts: its packages make the distribution (no OS roll here)
    r = run_cli(["create", "distro", "force=yes"], env=env)
    assert r.code == 0 and ": 2 packages, " in r.stdout, r.stderr
    # a disabled roll stays disabled
    assert run_cli(["disable", "roll", "tools"], env=env).code == 0
    assert run_cli(["add", "roll", str(roll), "clean=yes"], env=env).code == 0
    listed = run_cli(["list", "roll", "tools", "output-format=csv"], env=env).stdout
    assert listed.splitlines()[1] == "tools,1.0,x86_64,linux,no,no,store"


def test_same_package_file_twice_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    roll = rpmbuild_layout_roll(tmp_path)
    make_rpm("extra", "1.0", dest=roll / "RPMS" / "i686")
    r = run_cli(["add", "roll", str(roll)], env=env)
    assert r.code == 2 and "[roll-duplicate-rpm]" in r.stderr, r.stderr
    assert "extra-1.0-1.noarch.rpm is in both" in r.stderr
