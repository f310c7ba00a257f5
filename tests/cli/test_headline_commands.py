"""The headline commands through the real CLI, against a real distribution (rpmbuild +
createrepo_c + dnf's depsolver): `set host boot … action=install` refuses a host whose packages
cannot be installed, naming the node file and line, and `force=yes` overrides; `check host
packages`; `set roll X trusted=yes` switching `<eval>` on; `list host profile` for hosts with
host-scope attributes.

The state is built once per module and copied for each test (tests run in any order)."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, run_cli
from tests.conftest import require_tool
from tests.packages.rpmtools import build_cached, comps_xml, make_os_media, make_rpm

HPC = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package>hpc-tools</package>
    <package>no-such-package</package>
    </kickstart>
    """)
HPC_EVAL = textwrap.dedent("""\
    <?xml version="1.0"?>
    <kickstart>
    <package><eval shell="sh">echo made-by-eval-on-"$(uname -s)"</eval></package>
    </kickstart>
    """)
GRAPH = ('<graph>\n<edge from="compute" to="hpc" cond="hpc"/>\n'
         '<edge from="compute" to="hpc-eval" cond="hpc_eval"/>\n</graph>\n')
MISSING = ("hpc:nodes/hpc.xml:4: error: cannot install no-such-package: no package provides it "
           "[package-missing]")


def os_packages_spec(names: list[str]) -> str:
    """One spec whose subpackages are exactly `names` (one rpmbuild run for all)."""
    lines = ["Name: osbase", "Version: 9.4", "Release: 1", "Summary: stand-in OS packages",
             "License: MIT", "BuildArch: noarch", "", "%description", "stand-in", "",
             "%install", "mkdir -p %{buildroot}/opt/osbase",
             *(f"echo {n} > %{{buildroot}}/opt/osbase/{n}" for n in names)]
    for n in names:
        lines += ["", f"%package -n {n}", f"Summary: {n}", f"%description -n {n}", n,
                  f"%files -n {n}", f"/opt/osbase/{n}"]
    return "\n".join(lines) + "\n"


def compute_packages(env: dict[str, str]) -> list[str]:
    """The packages the bundled compute appliance asks for (groups and exclusions aside)."""
    text = run_cli(["list", "appliance", "profile", "compute"], env).stdout
    body = text.split("%packages\n", 1)[1].split("%end", 1)[0]
    return sorted(p for p in body.split() if not p.startswith(("@", "-")))


def ok(r: CliResult) -> CliResult:
    assert r.code == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("rpmbuild", "rpm")
    require_tool("createrepo_c", "createrepo-c")
    tmp = tmp_path_factory.mktemp("headline")
    env = {"ROCKS_STATE": str(tmp / "state")}
    roll = tmp / "src" / "hpc"
    for rel, text in {"nodes/hpc.xml": HPC, "nodes/hpc-eval.xml": HPC_EVAL,
                      "graphs/default/hpc.xml": GRAPH,
                      "roll.xml": '<roll name="hpc" interface="4.0"><info version="2.0" '
                                  'release="1" arch="x86_64" os="linux"/></roll>\n'}.items():
        (roll / rel).parent.mkdir(parents=True, exist_ok=True)
        (roll / rel).write_text(text)
    make_rpm("hpc-tools", "2.0", dest=roll / "RPMS")
    names = compute_packages(env)
    assert len(names) > 10 and "chrony" in names
    rpms = build_cached(os_packages_spec(names), tmp / "osrpms")
    media = make_os_media(tmp / "dvd", {"BaseOS": (rpms, comps_xml({"core": ["bash-completion"]}))})
    ok(run_cli(["add", "roll", str(roll), str(media)], env))
    ok(run_cli(["enable", "roll", "hpc", "os"], env))
    ok(run_cli(["create", "distro"], env))
    for i in range(3):
        ok(run_cli(["add", "host", f"compute-0-{i}"], env))
    ok(run_cli(["set", "host", "attr", "compute-0-1", "hpc", "true"], env))
    ok(run_cli(["set", "host", "attr", "compute-0-2", "hpc_eval", "true"], env))
    return tmp / "state"


@pytest.fixture
def env(template: Path, tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    shutil.copytree(template, state, symlinks=True)
    return {"ROCKS_STATE": str(state)}


def boot_of(env: dict[str, str], host: str) -> str:
    out = ok(run_cli(["list", "host", "boot", host, "output-format=csv"], env)).stdout
    return out.splitlines()[1].split(",")[1]


def token_of(env: dict[str, str], host: str) -> str | None:
    from rocks.inventory import open_inventory
    from rocks.inventory.install import tokens

    inv = open_inventory(str(Path(env["ROCKS_STATE"]) / "rocks.db"))
    try:
        with inv.transaction(readonly=True) as s:
            return tokens(s, [host]).get(host)
    finally:
        inv.close()


def test_check_host_packages(env: dict[str, str]) -> None:
    r = run_cli(["check", "host", "packages", "compute-0-0"], env)
    assert (r.code, r.stdout, r.stderr) == (0, "1 hosts: every package can be installed\n", "")
    # compute-0-1's own attribute brings hpc.xml in, with a package nobody ships
    r = run_cli(["check", "host", "packages", "compute-0-0", "compute-0-1"], env)
    # the one problem, located; every base-roll package resolves against this distribution
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == MISSING + "\n  hint: fix the node file, or add a roll that provides it\n"


def test_set_host_boot_install_refuses_then_force_overrides(env: dict[str, str]) -> None:
    r = run_cli(["set", "host", "boot", "compute-0-1", "action=install"], env)
    assert r.code == 2 and r.stdout == ""
    assert MISSING in r.stderr.splitlines()
    # refused whole: nothing changed, no token issued
    assert (boot_of(env, "compute-0-1"), token_of(env, "compute-0-1")) == ("os", None)
    ok(run_cli(["set", "host", "boot", "compute-0-1", "action=install", "force=yes"], env))
    assert boot_of(env, "compute-0-1") == "install"
    assert token_of(env, "compute-0-1")
    # a host whose packages all resolve needs no force
    ok(run_cli(["set", "host", "boot", "compute-0-0", "action=install"], env))
    assert boot_of(env, "compute-0-0") == "install"


def test_set_roll_trusted_switches_eval_on(env: dict[str, str]) -> None:
    r = run_cli(["check", "host", "packages", "compute-0-2"], env)
    assert r.code == 2
    assert "<eval> in roll hpc, which is not trusted [eval-untrusted]" in r.stderr
    assert "rocks set roll <name> trusted=yes" in r.stderr
    ok(run_cli(["set", "roll", "hpc", "trusted=yes"], env))
    assert ",hpc,2.0,x86_64,linux,yes,yes,store" in "," + ok(run_cli(
        ["list", "roll", "output-format=csv"], env)).stdout.replace("\n", "\n,")
    # the eval ran on this frontend: its output is the package name the check now looks for
    r = run_cli(["check", "host", "packages", "compute-0-2"], env)
    assert r.code == 2
    assert re.search(r"hpc:nodes/hpc-eval\.xml:3: error: cannot install made-by-eval-on-Linux: ",
                     r.stderr), r.stderr
    ok(run_cli(["set", "roll", "hpc", "trusted=no"], env))
    r = run_cli(["check", "host", "packages", "compute-0-2"], env)
    assert "[eval-untrusted]" in r.stderr


def test_list_host_profile_with_host_scope_attributes(env: dict[str, str]) -> None:
    ok(run_cli(["set", "host", "attr", "compute-0-1", "Kickstart_Timezone", "Asia/Tokyo"], env))
    ok(run_cli(["set", "host", "attr", "compute-0-1", "x11", "true"], env))
    plain = ok(run_cli(["list", "host", "profile", "compute-0-0"], env)).stdout
    own = ok(run_cli(["list", "host", "profile", "compute-0-1", "provenance=yes"], env)).stdout
    assert "timezone --utc Asia/Tokyo\n" in own and "Asia/Tokyo" not in plain
    assert "#   x11 [base] nodes/x11.xml (via client -> x11)\n" in own
    assert "x11" not in plain.split("%packages")[0]  # the default host does not reach x11.xml
    assert re.search(r"# rocks: base:nodes/\S+\.xml:\d+ .*\ntimezone --utc Asia/Tokyo\n", own)
    assert "--hostname=compute-0-1" in own or "hostname=compute-0-1" in own
