"""The cluster's graph as commands see it: inventory attributes in appliance previews,
appliances added to the inventory, the site graph in the state (and in `rocks dump`), the
releases offered, and faults kept to the appliances that reach them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ROCKS_STATE": str(tmp_path / "state")}


def ok(argv: list[str], env: dict[str, str]) -> CliResult:
    r = run_cli(argv, env)
    assert r.code == 0, r.stderr
    return r


def test_list_appliance_profile_reads_the_inventorys_attributes(env: dict[str, str]) -> None:
    assert "timezone --utc UTC\n" in ok(["list", "appliance", "profile", "compute"], env).stdout
    ok(["set", "attr", "Kickstart_Timezone", "Europe/Paris"], env)
    assert "timezone --utc Europe/Paris\n" in ok(
        ["list", "appliance", "profile", "compute"], env).stdout
    ok(["set", "appliance", "attr", "login", "Kickstart_Timezone", "Asia/Tokyo"], env)
    assert "timezone --utc Asia/Tokyo\n" in ok(
        ["list", "appliance", "profile", "login"], env).stdout
    # a key=value on the command line still wins
    assert "timezone --utc America/Lima\n" in ok(
        ["list", "appliance", "profile", "login", "Kickstart_Timezone=America/Lima"], env).stdout


def test_an_added_appliance_has_a_profile(env: dict[str, str]) -> None:
    ok(["add", "appliance", "my-compute", "node=compute"], env)
    text = ok(["list", "appliance", "profile", "my-compute"], env).stdout
    assert "--hostname=my-compute-0-0" in text
    r = run_cli(["list", "appliance", "profile", "nosuch"], env)
    assert r.code == 2 and 'unknown appliance "nosuch"' in r.stderr


def test_the_state_init_makes_the_site_graph_and_it_joins_the_graph(
        env: dict[str, str]) -> None:
    ok(["list", "appliance"], env)
    site = Path(env["ROCKS_STATE"]) / "site"
    assert (site / "nodes").is_dir() and (site / "graphs" / "default").is_dir()
    assert "extend-" in (site / "README").read_text()
    (site / "nodes" / "extend-compute.xml").write_text(
        "<kickstart>\n<package>site-tool</package>\n</kickstart>\n")
    assert "\nsite-tool\n" in ok(["list", "appliance", "profile", "compute"], env).stdout
    assert "\nsite-tool\n" not in ok(["list", "appliance", "profile", "nas"], env).stdout
    check = ok(["check", "graph"], env).stdout
    assert f"site graph {site}: 1 file" in check


def test_dump_carries_the_site_graph_and_a_restore_brings_it_back(
        env: dict[str, str], tmp_path: Path) -> None:
    ok(["list", "appliance"], env)
    site = Path(env["ROCKS_STATE"]) / "site"
    body = "<kickstart>\n<post>\ncat <<'EOF'\nROCKS_SITE_EOF\nEOF\n</post>\n</kickstart>\n"
    (site / "nodes" / "extend-compute.xml").write_text(body)
    (site / "graphs" / "default" / "site.xml").write_text("<graph>\n</graph>\n")
    script = ok(["dump", "section=site"], env).stdout
    everything = ok(["dump"], env).stdout
    assert everything.startswith("# --- site: sh, run first") and script in everything
    other = tmp_path / "other-state"
    subprocess.run(["sh", "-e"], input=script, text=True, check=True,
                   env={"ROCKS_STATE": str(other), "PATH": "/usr/bin:/bin"})
    assert (other / "site" / "nodes" / "extend-compute.xml").read_text() == body
    assert (other / "site" / "graphs" / "default" / "site.xml").read_text() == \
        "<graph>\n</graph>\n"


def test_a_new_state_dumps_no_site_section(env: dict[str, str]) -> None:
    assert ok(["dump", "section=site"], env).stdout == ""
    assert ok(["dump"], env).stdout.startswith("# --- commands")


@pytest.mark.parametrize("release", ["el9", "el10", "el7"])
def test_every_offered_release_compiles_and_is_checked(env: dict[str, str],
                                                      release: str) -> None:
    r = ok(["list", "appliance", "profile", "compute", f"release={release}"], env)
    assert f"for compute ({release}" in r.stdout.splitlines()[1]


def test_el10_is_checked_by_pykickstart_rhel10(env: dict[str, str], tmp_path: Path) -> None:
    """`rdp` is a RHEL10 command RHEL9 does not know: it compiles for el10 only, so el10's
    kickstart is checked with pykickstart's RHEL10 handler (and el9's with RHEL9)."""
    roll = tmp_path / "rdproll"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "nodes" / "remote.xml").write_text(
        "<kickstart>\n<main>\n<rdp>--username=admin --password=secret</rdp>\n</main>\n"
        "</kickstart>\n")
    (roll / "graphs" / "default" / "g.xml").write_text(
        '<graph>\n<edge from="compute" to="remote"/>\n</graph>\n')
    el10 = run_cli(["list", "appliance", "profile", "compute", "release=el10",
                    f"rolls={roll}"], env)
    assert el10.code == 0, el10.stderr
    assert "\nrdp --username=admin --password=secret\n" in el10.stdout
    el9 = run_cli(["list", "appliance", "profile", "compute", "release=el9",
                   f"rolls={roll}"], env)
    assert el9.code == 2 and "Unknown command: rdp" in el9.stderr
    assert "rdproll:nodes/remote.xml:3" in el9.stderr


def test_an_unknown_release_is_not_offered(env: dict[str, str]) -> None:
    r = run_cli(["list", "appliance", "profile", "compute", "release=el8"], env)
    assert r.code == 2 and "el9, el10, el7" in r.stderr


def test_a_broken_node_fails_only_the_appliances_reaching_it(
        env: dict[str, str], tmp_path: Path) -> None:
    roll = tmp_path / "brk"
    (roll / "nodes").mkdir(parents=True)
    (roll / "graphs" / "default").mkdir(parents=True)
    (roll / "nodes" / "broken.xml").write_text("<kickstart>\n<package>x</pakage>\n</kickstart>\n")
    (roll / "nodes" / "iffy.xml").write_text("<kickstart>\n</kickstart>\n")
    (roll / "graphs" / "default" / "g.xml").write_text(
        '<graph>\n<edge from="login" to="broken"/>\n'
        '<edge from="nas" to="iffy" cond="f(x)"/>\n</graph>\n')
    args = [f"rolls={roll}"]
    assert ok(["list", "appliance", "profile", "compute", *args], env).stdout
    r = run_cli(["list", "appliance", "profile", "login", *args], env)
    assert r.code == 2
    assert r.stderr.startswith(f"{roll.name}/nodes/broken.xml:2: error: malformed XML") or \
        "brk/nodes/broken.xml:2: error: malformed XML" in r.stderr.splitlines()[0], r.stderr
    assert "no node file" not in r.stderr
    r = run_cli(["list", "appliance", "profile", "nas", *args], env)
    assert r.code == 2 and "bad condition" in r.stderr.splitlines()[0]
    r = run_cli(["check", "graph", *args], env)
    assert r.code == 2
    assert "appliance compute: compute, " in r.stdout
    assert "appliance login: FAILS: " in r.stdout and "appliance nas: FAILS: " in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == 2 and not any("no node file" in e for e in errors), r.stderr


def test_the_example_site_graph_works_from_the_state(env: dict[str, str]) -> None:
    import shutil

    example = Path(__file__).resolve().parents[2] / "graph" / "example-site"
    ok(["list", "appliance"], env)
    shutil.copytree(example, Path(env["ROCKS_STATE"]) / "site", dirs_exist_ok=True)
    check = ok(["check", "graph"], env)
    assert check.stderr == "" and "site graph " in check.stdout
    text = ok(["list", "appliance", "profile", "compute"], env).stdout
    assert "\ntmux\n" in text and "chmod 1777 /scratch" in text
