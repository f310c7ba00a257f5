"""The graph commands run in process against the bundled rolls, small tmp rolls and the corpus.

Outputs are compared exactly where they are deterministic (tables, kickstarts, check summaries,
error messages); DOT is checked with `dot` when it is installed, else structurally.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from rocks.cli.context import CliResult, run_cli
from rocks.cli.registry import COMMANDS
from tests.conftest import RollMaker, need_corpus, require_tool

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "el9"
CORPUS = REPO.parent / "shared" / "corpus" / "rocks"
ROCKS7_ATTRS = REPO / "tests" / "data" / "rocks7-attrs.json"
APPLIANCES = ("compute", "frontend", "login", "nas")
X11_HEADER = "#   x11 [base] nodes/x11.xml (via client -> x11)\n"


def rocks(*argv: str) -> CliResult:
    return run_cli(list(argv))


# ---------------------------------------------------------------- the graph's appliances
# (`list appliance` lists the inventory's appliances: tests/cli/test_appliance_commands.py)


def test_report_graph_labels_each_bundled_appliance_root() -> None:
    r = rocks("report", "graph")
    assert (r.code, r.stderr) == (0, "")
    labels = sorted(line.split("\\n")[-1].split('"')[0] for line in r.stdout.splitlines()
                    if "\\nappliance " in line)
    assert labels == [f"appliance {name}" for name in APPLIANCES]
    assert 'label="server\\n[base]\\nappliance frontend"' in r.stdout


def test_check_graph_counts_the_appliances_of_a_tmp_roll_alone(make_roll: RollMaker) -> None:
    roll = make_roll("tiny", {
        "nodes/a.xml": "<kickstart>\n</kickstart>\n",
        "graphs/default/g.xml": '<graph>\n<appliance name="box" node="a" public="no"/>\n'
                                '<appliance name="switch" node="a" kickstartable="no"/>\n'
                                "</graph>\n",
    })
    r = rocks("check", "graph", f"rolls={roll}", "bundled=no")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout == "1 roll, 1 node, 0 edges, 2 appliances: 0 errors, 0 warnings\n"


def test_check_graph_reports_an_order_cycle_with_an_exit_edge(make_roll: RollMaker) -> None:
    """Regression: a cycle that leads on to a node outside it was an "internal error"."""
    roll = make_roll("cyc", {
        "nodes/a.xml": "<kickstart/>\n", "nodes/b.xml": "<kickstart/>\n",
        "nodes/c.xml": "<kickstart/>\n",
        "graphs/default/g.xml": '<graph>\n<order head="a" tail="b"/>\n'
                                '<order head="b" tail="a"/>\n<order head="b" tail="c"/>\n'
                                "</graph>\n",
    })
    r = rocks("check", "graph", f"rolls={roll}", "bundled=no")
    assert r.code == 2, r.stderr
    assert "internal error" not in r.stderr
    assert "g.xml:2: error: order constraints form a cycle: a -> b -> a [order-cycle]" in r.stderr


# ---------------------------------------------------------------- list appliance profile


def test_list_appliance_profile_compute_is_the_golden() -> None:
    r = rocks("list", "appliance", "profile", "compute")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout == (GOLDEN / "compute.ks").read_text()
    assert X11_HEADER not in r.stdout


def test_x11_changes_the_traversal() -> None:
    r = rocks("list", "appliance", "profile", "compute", "x11=yes")
    assert (r.code, r.stderr) == (0, "")
    assert X11_HEADER in r.stdout
    assert r.stdout != (GOLDEN / "compute.ks").read_text()
    assert "\nskipx\n" not in r.stdout
    assert "\nskipx\n" in (GOLDEN / "compute.ks").read_text()


def test_provenance_matches_its_golden() -> None:
    r = rocks("list", "appliance", "profile", "compute", "provenance=yes")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout == (GOLDEN / "compute-provenance.ks").read_text()


def test_attrs_file_sets_attributes_and_key_value_overrides_it(tmp_path: Path) -> None:
    attrs = tmp_path / "attrs.json"
    attrs.write_text(json.dumps({"x11": "yes"}))
    with_file = rocks("list", "appliance", "profile", "compute", f"attrs={attrs}")
    assert (with_file.code, with_file.stderr) == (0, "")
    assert with_file.stdout == rocks("list", "appliance", "profile", "compute", "x11=yes").stdout
    overridden = rocks("list", "appliance", "profile", "compute", f"attrs={attrs}", "x11=no")
    assert overridden.code == 0
    assert overridden.stdout == (GOLDEN / "compute.ks").read_text()


@pytest.mark.parametrize(("name", "hint"), [
    ("nope", "appliances: compute, frontend, login, nas"),
    ("compte", 'did you mean "compute"?'),
])
def test_unknown_appliance(name: str, hint: str) -> None:
    r = rocks("list", "appliance", "profile", name)
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f'error: unknown appliance "{name}" [unknown-appliance]\n  hint: {hint}\n'


def test_unknown_appliance_in_report_graph() -> None:
    r = rocks("report", "graph", "nope")
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == ('error: unknown appliance "nope" [unknown-appliance]\n'
                        "  hint: appliances: compute, frontend, login, nas\n")


# ---------------------------------------------------------------- list node xml


def _parse_rocks_xml(text: str) -> etree._Element:
    """Parse as Rocks did: declare every referenced attribute as an entity first."""
    names = sorted(set(re.findall(r"&([A-Za-z_][\w.-]*);", text))
                   - {"amp", "lt", "gt", "quot", "apos"})
    decls = "".join(f'<!ENTITY {n} "@{n}@">' for n in names)
    decl_end = text.index("?>") + 2 if text.startswith("<?xml") else 0
    doc = text[:decl_end] + f"\n<!DOCTYPE profile [{decls}]>" + text[decl_end:]
    return etree.fromstring(doc.encode())


def test_list_node_xml_is_xml_with_references_intact() -> None:
    r = rocks("list", "node", "xml", "compute")
    assert (r.code, r.stderr) == (0, "")
    assert "&hostname;" in r.stdout
    assert "&Kickstart_FrontendURL;" in r.stdout
    root = _parse_rocks_xml(r.stdout)
    assert (root.tag, root.get("root"), root.get("release")) == ("profile", "compute", "el9")
    nodes = [n.get("name") for n in root.iterfind("node")]
    assert nodes == ["install-log-begin", "phone-home", "base", "client", "nfs-client",
                     "access", "dnf-repo", "firewall", "node-info", "ntp-client", "partition",
                     "release", "report-up", "resolv", "ssh", "compute", "install-log-end",
                     "install-finished"]
    assert "@hostname@" in etree.tostring(root, encoding="unicode")


def test_list_node_xml_follows_conditions() -> None:
    r = rocks("list", "node", "xml", "compute", "x11=yes")
    assert r.code == 0
    nodes = [n.get("name") for n in _parse_rocks_xml(r.stdout).iterfind("node")]
    assert "x11" in nodes


# ---------------------------------------------------------------- check graph


def test_check_graph_bundled() -> None:
    r = rocks("check", "graph")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout.splitlines() == [
        "release el9",
        "roll base: bundled, enabled, untrusted",
        "site graph: none",
        "appliance compute: compute, 18 nodes, 22 packages",
        "appliance frontend: server, 17 nodes, 30 packages",
        "appliance login: login, 18 nodes, 22 packages",
        "appliance nas: nas, 19 nodes, 20 packages",
        "1 roll, 25 nodes, 26 edges, 4 appliances: 0 errors, 0 warnings",
    ]


def test_check_graph_broken_roll(make_roll: RollMaker, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_roll("brk", {
        "nodes/a.xml": "<kickstart>\n</kickstart>\n",
        "nodes/lonely.xml": "<kickstart>\n</kickstart>\n",
        "nodes/x.xml": '<kickstart>\n<package cond="f(x)">p</package>\n</kickstart>\n',
        "graphs/default/g.xml": (
            '<graph>\n<appliance name="a" node="a"/>\n<edge from="a" to="ghost"/>\n'
            '<order head="a" tail="nobody"/>\n<appliance name="b" node="nothere"/>\n</graph>\n'
        ),
    })
    r = rocks("check", "graph", "rolls=brk", "bundled=no")
    assert (r.code, r.stdout) == (2, "")
    cond_hint = ("a condition may use attribute names, 'string' and number literals, "
                 "True/False/None, == != < <= > >=, in, not in, is None, is not None, and, or, "
                 "not, and parentheses")
    assert r.stderr.splitlines() == [
        'brk/graphs/default/g.xml:4: warning: order constraint names "nobody", which is no node '
        "[order-unknown-node]",
        "  hint: Rocks ignores such constraints; check the spelling",
        'brk/nodes/lonely.xml:1: warning: node "lonely" is not reachable from any appliance '
        "[unreachable-node]",
        "  hint: add an edge to it or remove it",
        "1 roll, 2 nodes, 1 edge, 2 appliances: 3 errors, 2 warnings",
        # root causes first: the node file that did not load, then what the graph shows
        'brk/nodes/x.xml:2: error: bad condition "f(x)": function call is not allowed at '
        "column 2 [cond-syntax]",
        f"  hint: {cond_hint}",
        'brk/graphs/default/g.xml:3: error: edge a -> ghost: no node file "ghost.xml" in any '
        "roll [unknown-node]",
        "  hint: add the node file, fix the name, or remove the edge",
        'brk/graphs/default/g.xml:5: error: appliance b: root node "nothere" has no node file '
        "[unknown-node]",
        "  hint: point the appliance at an existing node, or add the node file",
    ]


def test_check_graph_takes_the_roll_author_options(make_roll: RollMaker) -> None:
    """The documented roll-author line: rolls=DIR bundled=no release=el7 eval=skip."""
    roll = make_roll("dev", {
        "nodes/a.xml": "<kickstart>\n<post>\n<eval>echo hi</eval>\n</post>\n</kickstart>\n",
        "graphs/default/g.xml": '<graph>\n<appliance name="a" node="a"/>\n</graph>\n',
    })
    r = rocks("check", "graph", f"rolls={roll}", "bundled=no", "release=el7", "eval=skip")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout == "1 roll, 1 node, 0 edges, 1 appliance: 0 errors, 0 warnings\n"


# ---------------------------------------------------------------- report graph


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_NODE_DECL = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*\[', re.M)
_EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"\s*->\s*"((?:[^"\\]|\\.)*)"', re.M)


def _check_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    assert text.startswith("digraph ")
    bare = _QUOTED.sub('""', text)
    depth = 0
    for ch in bare:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert bare.rstrip().endswith("}")
    declared = set(_NODE_DECL.findall(text))
    edges = _EDGE.findall(text)
    assert edges
    for src, dst in edges:
        assert src in declared, src
        assert dst in declared, dst
    dot = require_tool("dot", "graphviz")
    proc = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return declared, edges


def test_report_graph_compute_is_dot() -> None:
    r = rocks("report", "graph", "compute")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout.startswith('digraph "compute" {\n')
    declared, edges = _check_dot(r.stdout)
    assert declared == {"access", "base", "client", "compute", "dnf-repo", "firewall",
                        "install-finished", "install-log-begin", "install-log-end", "nfs-client",
                        "node-info", "ntp-client", "partition", "phone-home", "release",
                        "report-up", "resolv", "ssh", "x11"}
    assert ("compute", "client") in edges
    assert ("client", "x11") in edges
    assert not any("server" in e for e in edges)


def test_report_graph_whole_is_dot() -> None:
    r = rocks("report", "graph")
    assert (r.code, r.stderr) == (0, "")
    declared, edges = _check_dot(r.stdout)
    assert len(declared) == 25
    assert len(edges) == 26


# ---------------------------------------------------------------- create profiles


def test_create_profiles_writes_the_goldens(tmp_path: Path) -> None:
    out = tmp_path / "profiles"
    r = rocks("create", "profiles", f"dir={out}")
    assert r.code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{a}.ks" for a in APPLIANCES]
    for a in APPLIANCES:
        assert (out / f"{a}.ks").read_text() == (GOLDEN / f"{a}.ks").read_text(), a
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["APPLIANCE", "KICKSTART", "LINES", "COMPILE_MS"]
    assert [ln.split()[:3] for ln in lines[1:]] == [
        [a, str(out / f"{a}.ks"), str((GOLDEN / f"{a}.ks").read_text().count("\n"))]
        for a in APPLIANCES
    ]
    assert re.fullmatch(r"loaded 1 rolls \(25 nodes\) in [\d.]+ ms; compiled and checked 4 "
                        r"appliances in [\d.]+ ms\n", r.stderr)


# ---------------------------------------------------------------- Rocks 7 corpus


def test_rocks7_corpus_compute_profile() -> None:
    need_corpus()
    rolls = ",".join(str(CORPUS / r) for r in ("base", "core", "hpc", "sge", "ganglia"))
    r = rocks("list", "node", "profile", "compute", "bundled=no", f"rolls={rolls}",
              "release=el7", "eval=skip", f"attrs={ROCKS7_ATTRS}")
    assert r.code == 0, r.stderr
    assert r.stdout.startswith("#\n# Kickstart Generator: rocks ")
    assert "\n%packages" in r.stdout
    assert "@EVAL-SKIPPED:" in r.stdout
    assert " error: " not in r.stderr


# ---------------------------------------------------------------- help


@pytest.mark.parametrize("name", sorted(COMMANDS), ids=[" ".join(n) for n in sorted(COMMANDS)])
def test_every_command_has_help(name: tuple[str, ...]) -> None:
    r = rocks(*name, "help")
    assert (r.code, r.stderr) == (0, "")
    assert r.stdout.startswith(f"rocks {' '.join(name)} - {COMMANDS[name].summary}\n\n"
                               f"usage: rocks {' '.join(name)}")


def test_top_level_help_lists_the_graph_commands() -> None:
    r = rocks("help")
    assert (r.code, r.stderr) == (0, "")
    for name, entry in COMMANDS.items():
        assert re.search(rf"^  {re.escape(' '.join(name))} +{re.escape(entry.summary)}$",
                         r.stdout, re.M), name
