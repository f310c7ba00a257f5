"""Malformed rolls: every problem is reported, each with its code, file:line and a clear message.

Each case builds tiny rolls in a temporary directory (the test runs there, so locations are
relative like "bad/nodes/x.xml:3"), loads them alone (bundled=no) and, where the problem only
shows when compiling, compiles one appliance. The whole list of diagnostics is compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rocks.cli.context import run_cli
from rocks.compiler.compile import EvalMode
from rocks.compiler.service import Compiler, load_graph, preview_attributes
from rocks.errors import RocksError
from tests.conftest import RollMaker

Files = dict[str, str | bytes]
Expected = tuple[str, str, str]  # (code, "file:line" or "" when unlocated, message)

MISSING = "<missing>"  # a roll directory that is not created at all
BARE = "<bare>"  # a directory with neither nodes/ nor graphs/default/

KS = "<kickstart>\n</kickstart>\n"
APP = '<graph>\n<appliance name="a" node="a"/>\n</graph>\n'  # appliance a, declared on line 2


def node(*lines: str) -> str:
    """A node file: <kickstart> on line 1, then `lines` from line 2 on."""
    return "<kickstart>\n" + "".join(f"{ln}\n" for ln in lines) + "</kickstart>\n"


def graph(*lines: str) -> str:
    """A graph file: <graph> on line 1, then `lines` from line 2 on."""
    return "<graph>\n" + "".join(f"{ln}\n" for ln in lines) + "</graph>\n"


def app_roll(*main_lines: str) -> Files:
    """Appliance a whose root node a.xml has `main_lines` from line 2 on."""
    return {"nodes/a.xml": node(*main_lines), "graphs/default/g.xml": APP}


@dataclass(frozen=True)
class Case:
    id: str
    rolls: tuple[tuple[str, Files | str], ...]
    expected: tuple[Expected, ...]
    appliance: str = ""  # compile this appliance after loading ("" = load only)
    release: str = "el9"
    eval_mode: EvalMode = EvalMode.RUN
    trusted: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)
    host: str = ""


def one(name: str, files: Files | str) -> tuple[tuple[str, Files | str], ...]:
    return ((name, files),)


_LOC_COND = 'bad condition "{}": {}'
_XML_BAD_AMP = ('malformed XML: "&" must be followed by a name and ";" '
                '(write &amp; for a literal "&")')

CASES: list[Case] = [
    # ---------------------------------------------------------------- XML syntax
    Case("xml-unclosed-tag", one("bad", {"nodes/x.xml": node("<package>a")}), (
        ("xml", "bad/nodes/x.xml:3",
         "malformed XML: Opening and ending tag mismatch: package line 2 and kickstart"),)),
    Case("xml-bare-ampersand", one("bad", {"nodes/x.xml": node("<post>", "if a & foo", "</post>")}),
         (("xml", "bad/nodes/x.xml:3", _XML_BAD_AMP),)),
    Case("xml-shell-and-and", one("bad", {"nodes/x.xml": node("<post>", "true && false",
                                                              "</post>")}),
         (("xml", "bad/nodes/x.xml:3", _XML_BAD_AMP),)),
    Case("xml-entity-without-semicolon",
         one("bad", {"nodes/x.xml": node("<post>", "echo a &b c", "</post>")}),
         (("xml", "bad/nodes/x.xml:3",
           'malformed XML: "&name" must end with ";" (write &amp; for a literal "&")'),)),
    Case("xml-not-utf8",
         one("bad", {"nodes/x.xml": node("<post>", "echo caf\xe9", "</post>").encode("latin-1")}),
         (("xml", "bad/nodes/x.xml:3", "not UTF-8: invalid continuation byte"),)),
    Case("xml-empty-file", one("bad", {"nodes/x.xml": ""}),
         (("xml", "bad/nodes/x.xml:1", "malformed XML: Document is empty"),)),
    Case("xml-roll-xml-unclosed",
         one("bad", {"roll.xml": '<roll name="bad">\n<info version="1">\n</roll>\n'}),
         (("xml", "bad/roll.xml:3",
           "malformed XML: Opening and ending tag mismatch: info line 2 and roll"),)),
    # ---------------------------------------------------------------- schema
    Case("schema-unknown-element", one("bad", {"nodes/x.xml": node("<pakage>a</pakage>")}),
         (("schema", "bad/nodes/x.xml:2",
           'element "pakage" is not allowed here (inside <kickstart>)'),)),
    Case("schema-unknown-main-command",
         one("bad", {"nodes/x.xml": node("<main>", "<frobnicate>x</frobnicate>", "</main>")}),
         (("schema", "bad/nodes/x.xml:3",
           'element "frobnicate" is not allowed here (inside <main>)'),)),
    Case("schema-unknown-attribute",
         one("bad", {"nodes/x.xml": node('<package colour="red">a</package>')}),
         (("schema", "bad/nodes/x.xml:2", 'attribute "colour" is not allowed on <package>'),)),
    Case("schema-every-problem-of-a-file",
         one("bad", {"nodes/x.xml": node("<pakage>a</pakage>", '<package colour="red">b</package>',
                                         '<post foo="1">x</post>')}),
         (("schema", "bad/nodes/x.xml:2",
           'element "pakage" is not allowed here (inside <kickstart>)'),
          ("schema", "bad/nodes/x.xml:3", 'attribute "colour" is not allowed on <package>'),
          ("schema", "bad/nodes/x.xml:4", 'attribute "foo" is not allowed on <post>'))),
    Case("schema-node-wrong-root", one("bad", {"nodes/x.xml": "<kickstrt>\n</kickstrt>\n"}),
         (("schema", "bad/nodes/x.xml:1", 'element "kickstrt" is not allowed as the root element '
           "(expected <jumpstart> or <kickstart>)"),)),
    Case("schema-graph-wrong-root", one("bad", {"graphs/default/g.xml": "<grph>\n</grph>\n"}),
         (("schema", "bad/graphs/default/g.xml:1",
           'element "grph" is not allowed as the root element (expected <graph>)'),)),
    Case("schema-order-without-tail",
         one("bad", {"graphs/default/g.xml": graph('<order head="a"/>')}),
         (("schema", "bad/graphs/default/g.xml:2",
           '<order> needs "tail", as an attribute or as <tail> child elements'),)),
    Case("schema-edge-without-to", one("bad", {"graphs/default/g.xml": graph('<edge from="a"/>')}),
         (("schema", "bad/graphs/default/g.xml:2",
           '<edge> needs "to", as an attribute or as <to> child elements'),)),
    Case("schema-appliance-without-node",
         one("bad", {"graphs/default/g.xml": graph('<appliance name="a"/>')}),
         (("schema", "bad/graphs/default/g.xml:2",
           'required attribute "node" is missing on <appliance>'),)),
    Case("schema-appliance-bad-enum",
         one("bad", {"nodes/a.xml": KS, "graphs/default/g.xml":
                     graph('<appliance name="a" node="a" kickstartable="maybe"/>')}),
         (("schema", "bad/graphs/default/g.xml:2",
           'attribute "kickstartable" on <appliance> must be one of "no", "yes", not "maybe"'),)),
    Case("schema-text-in-graph",
         one("bad", {"graphs/default/g.xml": graph("hello", '<edge from="a" to="b"/>')}),
         (("schema", "bad/graphs/default/g.xml:2", 'text "hello" is not allowed inside <graph>'),)),
    Case("schema-roll-xml-without-name",
         one("bad", {"roll.xml": '<roll interface="4.0">\n<info version="1"/>\n</roll>\n'}),
         (("schema", "bad/roll.xml:1", 'required attribute "name" is missing on <roll>'),)),
    Case("every-file-of-every-roll", (
        ("one", {"nodes/x.xml": node("<package>a"),
                 "nodes/y.xml": node('<package cond="f(x)">a</package>')}),
        ("two", {"graphs/default/g.xml": graph('<edge from="a"/>')}),
    ), (
        ("xml", "one/nodes/x.xml:3",
         "malformed XML: Opening and ending tag mismatch: package line 2 and kickstart"),
        ("cond-syntax", "one/nodes/y.xml:2",
         _LOC_COND.format("f(x)", "function call is not allowed at column 2")),
        ("schema", "two/graphs/default/g.xml:2",
         '<edge> needs "to", as an attribute or as <to> child elements'),
    )),
    # ---------------------------------------------------------------- graph structure
    Case("edge-to-unknown-node-on-traversal",
         one("bad", {"nodes/a.xml": KS,
                     "graphs/default/g.xml": graph('<appliance name="a" node="a"/>',
                                                   '<edge from="a" to="ghost"/>')}),
         (("unknown-node", "bad/graphs/default/g.xml:3",
           'edge a -> ghost: no node file "ghost.xml" in any roll'),), appliance="a"),
    Case("appliance-root-missing", one("bad", {"graphs/default/g.xml": APP}),
         (("unknown-node", "bad/graphs/default/g.xml:2",
           'appliance a: root node "a" has no node file'),), appliance="a"),
    Case("duplicate-appliance",
         one("bad", {"nodes/a.xml": KS, "nodes/b.xml": KS, "graphs/default/g.xml": graph(
             '<appliance name="a" node="a"/>', '<appliance name="a" node="b"/>')}),
         (("duplicate-appliance", "bad/graphs/default/g.xml:3",
           'appliance "a" is declared twice (also at bad/graphs/default/g.xml:2)'),)),
    Case("order-cycle-two-nodes",
         one("bad", {"nodes/a.xml": KS, "nodes/b.xml": KS, "graphs/default/g.xml": graph(
             '<order head="a" tail="b"/>', '<order head="b" tail="a"/>')}),
         (("order-cycle", "bad/graphs/default/g.xml:2",
           "order constraints form a cycle: a -> b -> a"),)),
    Case("order-cycle-three-nodes",
         one("bad", {"nodes/a.xml": KS, "nodes/b.xml": KS, "nodes/c.xml": KS,
                     "graphs/default/g.xml": graph('<order head="a" tail="b"/>',
                                                   '<order head="b" tail="c"/>',
                                                   '<order head="c" tail="a"/>')}),
         (("order-cycle", "bad/graphs/default/g.xml:2",
           "order constraints form a cycle: a -> b -> c -> a"),)),
    # the cycle has an exit edge (b -> c): c is left unsorted but lies on no cycle
    Case("order-cycle-with-exit-edge",
         one("bad", {"nodes/a.xml": KS, "nodes/b.xml": KS, "nodes/c.xml": KS,
                     "graphs/default/g.xml": graph('<order head="a" tail="b"/>',
                                                   '<order head="b" tail="a"/>',
                                                   '<order head="b" tail="c"/>')}),
         (("order-cycle", "bad/graphs/default/g.xml:2",
           "order constraints form a cycle: a -> b -> a"),)),
    Case("order-cycle-into-tail",
         one("bad", {"nodes/a.xml": KS, "nodes/b.xml": KS,
                     "graphs/default/g.xml": graph('<order head="b" tail="TAIL"/>',
                                                   '<order head="a" tail="b"/>',
                                                   '<order head="b" tail="a"/>')}),
         (("order-cycle", "bad/graphs/default/g.xml:3",
           "order constraints form a cycle: a -> b -> a"),)),
    # ---------------------------------------------------------------- conditions
    *(Case(f"cond-node-{tag}",
           one("bad", {"nodes/x.xml": node(f'<package cond="{c}">a</package>')}),
           (("cond-syntax", "bad/nodes/x.xml:2", _LOC_COND.format(c, why)),))
      for tag, c, why in [
          ("dangling-operator", "x +", "unexpected '+' at column 3"),
          ("function-call", "f(x)", "function call is not allowed at column 2"),
          ("attribute-access", "a.b", "attribute access is not allowed at column 2"),
          ("missing-operand", "a == ", "unexpected end of condition at column 6, expected a value"),
      ]),
    *(Case(f"cond-edge-{tag}",
           one("bad", {"nodes/a.xml": KS,
                       "graphs/default/g.xml": graph(f'<edge from="a" to="a" cond="{c}"/>')}),
           (("cond-syntax", "bad/graphs/default/g.xml:2", _LOC_COND.format(c, why)),))
      for tag, c, why in [
          ("dangling-operator", "x +", "unexpected '+' at column 3"),
          ("function-call", "f(x)", "function call is not allowed at column 2"),
          ("attribute-access", "a.b", "attribute access is not allowed at column 2"),
      ]),
    Case("cond-nested-to",
         one("bad", {"nodes/a.xml": KS, "graphs/default/g.xml": graph(
             '<edge from="a">', '<to cond="f(x)">a</to>', "</edge>")}),
         (("cond-syntax", "bad/graphs/default/g.xml:3",
           _LOC_COND.format("f(x)", "function call is not allowed at column 2")),)),
    # ---------------------------------------------------------------- compile time
    Case("eval-in-untrusted-roll",
         one("bad", app_roll("<post>", "<eval>echo 1</eval>", "</post>", "<post>",
                             "<eval>echo 2</eval>", "</post>")),
         (("eval-untrusted", "bad/nodes/a.xml:3", "<eval> in roll bad, which is not trusted"),
          ("eval-untrusted", "bad/nodes/a.xml:6", "<eval> in roll bad, which is not trusted")),
         appliance="a"),
    Case("eval-fails", one("bad", app_roll("<post>", "<eval>exit 3</eval>", "</post>")),
         (("eval-failed", "bad/nodes/a.xml:3", "eval exited with status 3: (no output)"),),
         appliance="a", trusted=("bad",)),
    Case("file-inside-python-post",
         one("bad", app_roll('<post interpreter="/usr/bin/python3">', "print(1)",
                             '<file name="/etc/x">y</file>', "</post>")),
         (("file-not-shell", "bad/nodes/a.xml:4", '<file> inside <post> needs a shell script; '
           'this one runs "/usr/bin/python3"'),), appliance="a"),
    Case("include-missing", one("bad", app_roll("<post>", '<include file="nope.sh"/>', "</post>")),
         (("include-missing", "bad/nodes/a.xml:3", 'included file "include/nope.sh" not found'),),
         appliance="a"),
    Case("kickstart-bad-bootloader-location",
         one("bad", app_roll("<main>", "<bootloader>--location=nowhere</bootloader>", "</main>")),
         (("kickstart-invalid", "bad:nodes/a.xml:3",
           "pykickstart RHEL9: argument --location: invalid choice: 'nowhere' (choose from "
           "'mbr', 'partition', 'none', 'boot') (kickstart line 8)"),), appliance="a"),
    Case("kickstart-unknown-option",
         one("bad", app_roll("<main>", "<network>--frobnicate</network>", "</main>")),
         (("kickstart-invalid", "bad:nodes/a.xml:3",
           "pykickstart RHEL9: unrecognized arguments: --frobnicate (kickstart line 8)"),),
         appliance="a"),
    Case("line-break-in-main-command-value",
         one("bad", app_roll("<main>", "<timezone>&tz;</timezone>", "</main>")),
         (("unsafe-value", "host a-0-0",
           "attribute tz of a-0-0 would put a line break (a line feed (\\n)) inside a "
           "kickstart command line"),),
         appliance="a", attrs={"tz": "UTC\nrootpw --plaintext x"}, host="a-0-0"),
    # ---------------------------------------------------------------- merging rolls
    Case("duplicate-node-different-content",
         (("r1", {"nodes/x.xml": node("<package>a</package>")}),
          ("r2", {"nodes/x.xml": node("<package>b</package>")})),
         (("duplicate-node", "r2/nodes/x.xml:1", 'node file "x.xml" is defined differently by '
           "roll r1 (r1/nodes/x.xml) and roll r2 (r2/nodes/x.xml)"),)),
    Case("two-replace-files",
         (("r1", {"nodes/x.xml": KS, "nodes/replace-x.xml": node("<package>a</package>")}),
          ("r2", {"nodes/replace-x.xml": node("<package>b</package>")})),
         (("duplicate-node", "r2/nodes/replace-x.xml:1",
           'node file "replace-x.xml" is defined differently by roll r1 '
           "(r1/nodes/replace-x.xml) and roll r2 (r2/nodes/replace-x.xml)"),)),
    Case("extend-without-base", one("bad", {"nodes/extend-ghost.xml": KS}),
         (("extend-without-base", "bad/nodes/extend-ghost.xml:1",
           'extend-ghost.xml extends node "ghost", which no roll defines'),)),
    # ---------------------------------------------------------------- arguments
    Case("unknown-release", one("ok", app_roll()), (("bad-release", "", 'unknown release "el5"'),),
         release="el5"),
    Case("roll-dir-missing", one("nowhere", MISSING),
         (("roll-missing", "", "roll directory not found: nowhere"),)),
    Case("roll-dir-without-nodes-or-graphs", one("bare", BARE),
         (("roll-empty", "bare", "bare has neither nodes/ nor graphs/default/"),)),
]


def _build(case: Case, make_roll: RollMaker, tmp_path: Path) -> list[Path]:
    dirs = []
    for name, files in case.rolls:
        path = tmp_path / name
        if files == BARE:
            path.mkdir()
            (path / "README").write_text("not a roll\n")
        elif isinstance(files, dict):
            texts = {k: v for k, v in files.items() if isinstance(v, str)}
            make_roll(name, texts)
            for rel, data in files.items():
                if isinstance(data, bytes):
                    (path / rel).write_bytes(data)
        dirs.append(path)
    return dirs


def _run(case: Case, dirs: list[Path]) -> None:
    graph = load_graph(rolls=dirs, bundled=False, release=case.release, trusted=case.trusted)
    if case.appliance:
        app = graph.appliances[case.appliance]
        attrs = {**preview_attributes(graph, app.name, case.release), **case.attrs}
        Compiler(graph, release=case.release, eval_mode=case.eval_mode).render(
            app.node, attrs, host=case.host)


def _relative(text: str, tmp_path: Path) -> str:
    for base in (str(tmp_path.resolve()), str(tmp_path)):
        text = text.replace(base + "/", "")
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_reports_every_problem(
    case: Case, make_roll: RollMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    dirs = _build(case, make_roll, tmp_path)
    with pytest.raises(RocksError) as info:
        _run(case, dirs)
    got = [(d.code, _relative(str(d.location) if d.location else "", tmp_path),
            _relative(d.message, tmp_path)) for d in info.value.diagnostics]
    assert got == list(case.expected)
    assert all(d.severity == "error" for d in info.value.diagnostics)


def test_case_table_is_large_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


def test_same_node_file_in_two_rolls_is_one_node(
    make_roll: RollMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shared = node("<package>shared-pkg</package>")
    one_roll = make_roll("r1", {"nodes/a.xml": KS, "nodes/x.xml": shared,
                                "graphs/default/g.xml": graph('<appliance name="a" node="a"/>',
                                                              '<edge from="a" to="x"/>')})
    two_roll = make_roll("r2", {"nodes/x.xml": shared})
    g = load_graph(rolls=[one_roll, two_roll], bundled=False)
    assert [f.file for f in g.nodes["x"].files] == ["r1/nodes/x.xml"]
    text = Compiler(g).render("a", preview_attributes(g, "a", "el9"))
    assert text.count("\nshared-pkg\n") == 1


def test_bad_cond_in_node_file_is_reported_by_check_graph_with_location(
    make_roll: RollMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_roll("bad", {"nodes/x.xml": node('<package cond="a.b">a</package>')})
    r = run_cli(["check", "graph", "rolls=bad", "bundled=no"])
    assert r.code == 2
    assert r.stdout == ""
    assert r.stderr.splitlines()[:2] == [
        "1 roll, 0 nodes, 0 edges, 0 appliances: 1 error, 0 warnings",
        'bad/nodes/x.xml:2: error: bad condition "a.b": attribute access is not allowed at '
        "column 2 [cond-syntax]",
    ]


@pytest.mark.parametrize(("content", "expected"), [
    ("not json\n", "attrs.json:1: error: not JSON: Expecting value [attrs-file]\n"),
    ('{\n  "a": "b",\n}\n', "attrs.json:3: error: not JSON: Expecting property name enclosed "
     "in double quotes [attrs-file]\n"),
    ('["x11"]\n', "attrs.json:1: error: expected a JSON object of name: value [attrs-file]\n"),
], ids=["not-json", "trailing-comma", "not-an-object"])
def test_attrs_file_that_is_not_a_json_object(
    content: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("attrs.json").write_text(content)
    r = run_cli(["list", "appliance", "profile", "compute", "attrs=attrs.json"])
    assert (r.code, r.stdout, r.stderr) == (2, "", expected)


def test_attrs_file_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli(["list", "appliance", "profile", "compute", "attrs=nope.json"])
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == "nope.json: error: cannot read attrs file: No such file or directory [io]\n"


def test_attrs_file_values_are_coerced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("attrs.json").write_text(json.dumps({"x11": True}))
    r = run_cli(["list", "appliance", "profile", "compute", "attrs=attrs.json"])
    assert r.code == 0, r.stderr
    assert "#   x11 [base] nodes/x11.xml (via client -> x11)\n" in r.stdout
