"""RELAX NG schemas of node, graph and roll XML: the Rocks corpus passes, mistakes are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from rocks.compiler.rolls import load_roll_selection
from rocks.compiler.schema import Kind, schema_dir, validate
from rocks.errors import Diagnostic, RocksError, SourceLocation
from tests.conftest import need_corpus

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "rocks"

_ENTITY = re.compile(r"&([A-Za-z_][\w.-]*);")
_PROTECTED = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S)
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}


def _slot(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        return m.group(0) if name in _PREDEFINED else f"\ue000{name}\ue001"

    out: list[str] = []
    pos = 0
    for m in _PROTECTED.finditer(text):
        out.append(_ENTITY.sub(one, text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_ENTITY.sub(one, text[pos:]))
    return "".join(out)


def load(data: str | bytes) -> etree._Element:
    """What the real loader hands to validate: &name; references already turned into sentinels."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    parser = etree.XMLParser(
        remove_comments=False,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
    )
    return etree.fromstring(_slot(text).encode("utf-8"), parser)


def messages(kind: Kind, xml: str) -> list[tuple[int, str]]:
    return [
        (d.location.line if d.location else -1, d.message)
        for d in validate(load(xml), kind, "t.xml")
    ]


# ------------------------------------------------------------------ the corpus

# Fixtures of Rocks' own test suite that are not source files of the three formats.
# Corpus files that are not node, graph or roll files, and what they are instead (tested as that
# below, not left out silently).
NOT_SOURCE = {
    "rolls.xml": "a roll-selection list (<rolls>) of the Rocks installer: load_roll_selection",
}


def _kind_of(path: Path) -> Kind | None:
    parts = path.relative_to(CORPUS).parts
    if path.name.endswith(".xml.in"):
        return Kind.ROLL if path.name.startswith("roll-") else None
    if "graphs" in parts or (parts[-2] == "t2009" and path.name == "test.xml"):
        return Kind.GRAPH
    if {"nodes", "site-nodes"} & set(parts) or parts[-2] == "t2009":
        return Kind.NODE
    return None


def _corpus_files() -> list[Path]:
    return sorted([*CORPUS.rglob("*.xml"), *CORPUS.rglob("*.xml.in")])


def _corpus_cases() -> list[object]:
    if not CORPUS.is_dir():  # one case that reports the missing corpus (need_corpus)
        return [pytest.param(None, None, id="no-corpus")]
    return [pytest.param(path, _kind_of(path), id=str(path.relative_to(CORPUS)))
            for path in _corpus_files()
            if path.name not in NOT_SOURCE and _kind_of(path) is not None]


@pytest.mark.parametrize(("path", "kind"), _corpus_cases())
def test_corpus_file_is_valid(path: Path, kind: Kind) -> None:
    need_corpus()
    assert validate(load(path.read_bytes()), kind, str(path)) == []


def test_every_corpus_file_is_a_node_graph_roll_or_named_otherwise() -> None:
    need_corpus()
    other = [str(p.relative_to(CORPUS)) for p in _corpus_files()
             if p.name not in NOT_SOURCE and _kind_of(p) is None]
    assert other == []


def test_corpus_roll_selection_files_load_as_what_they_are() -> None:
    need_corpus()
    files = [p for p in _corpus_files() if p.name in NOT_SOURCE]
    assert len(files) == 2
    for path in files:
        chosen = load_roll_selection(path)
        assert [(r.name, r.version, r.arch) for r in chosen] == [("base", "6.2", "x86_64")]
        assert chosen[0].url.endswith("/install/rolls/") and chosen[0].location.line > 1
    a_node = next(p for p in _corpus_files() if _kind_of(p) is Kind.NODE)
    with pytest.raises(RocksError, match="a roll selection file has root <rolls>, not <"):
        load_roll_selection(a_node)


def test_corpus_covers_every_node_and_graph_file() -> None:
    need_corpus()
    kinds = [_kind_of(p) for p in CORPUS.rglob("*.xml")]
    # nodes/ (with include-version overlays and the devel template), the site-nodes skeletons,
    # Rocks' t2009 fixtures; graphs/ likewise.
    assert kinds.count(Kind.NODE) >= 250
    assert kinds.count(Kind.GRAPH) >= 35


def test_pass2_stamps_are_accepted() -> None:
    path = need_corpus() / "base" / "tests" / "t2009" / "test1.xml"
    assert validate(load(path.read_bytes()), Kind.NODE, "test1.xml") == []
    assert messages(Kind.NODE, '<kickstart><post rol="x">true</post></kickstart>') == [
        (1, 'attribute "rol" is not allowed on <post>')
    ]


def test_schema_files_are_found() -> None:
    assert sorted(p.name for p in schema_dir().glob("*.rng")) == [
        "graph.rng", "node.rng", "roll.rng",
    ]


def test_sentinels_are_accepted_in_text_and_attributes() -> None:
    xml = """<kickstart roll="base">
<post cond="&Kickstart_Multicast; == 'yes'">
<file name="&HttpConf;/httpd.conf" perms="0644">
ServerName &hostname;.&Kickstart_PrivateDNSDomain;
<eval shell="sh">echo &arch;</eval>
</file>
</post>
<package>&kernel;-devel</package>
</kickstart>"""
    root = load(xml)
    assert root[0][0].get("name") == "\ue000HttpConf\ue001/httpd.conf"
    assert validate(root, Kind.NODE, "t.xml") == []


def test_element_tree_and_element_are_both_accepted() -> None:
    root = load("<graph><edge from='a' to='b'/></graph>")
    assert validate(root.getroottree(), Kind.GRAPH, "g.xml") == []
    assert validate(root, Kind.GRAPH, "g.xml") == []


@pytest.mark.parametrize(
    "edge",
    [
        '<edge from="a" to="b"/>',
        '<edge from="a"><to>b</to><to os="linux">c</to></edge>',
        '<edge to="b"><from>a</from></edge>',
        "<edge><from>a</from><to>b</to></edge>",
        '<order head="a" tail="b"/>',
        '<order head="a"><tail>b</tail><tail gen="kgen">c</tail></order>',
        '<order gen="kgen" tail="TAIL"><head>a</head></order>',
        '<appliance name="compute" node="compute" kickstartable="yes" public="no"/>',
    ],
)
def test_graph_forms(edge: str) -> None:
    assert messages(Kind.GRAPH, f"<graph>{edge}</graph>") == []


def test_every_pykickstart_command_is_a_main_child() -> None:
    from pykickstart import version
    names = set(version.makeVersion(version.RHEL7).commands)
    names |= set(version.makeVersion(version.RHEL9).commands)
    body = "".join(f'<{n} cond="x" os="linux">--opt &a;</{n}>' for n in sorted(names))
    assert messages(Kind.NODE, f"<kickstart><main>{body}</main></kickstart>") == []


def test_roll_xml_with_extensions() -> None:
    xml = """<roll name="hpc" interface="4.0">
<description>HPC tools</description>
<info version="7.0" release="0" arch="x86_64" os="linux"/>
<attribute name="mpi_default" value="openmpi" doc="default MPI"/>
<attribute name="slurm_key" appliance="frontend" secret="yes"/>
</roll>"""
    assert messages(Kind.ROLL, xml) == []


# ------------------------------------------------------------------ rejected shapes


@pytest.mark.parametrize(
    ("kind", "xml", "expected"),
    [
        (Kind.NODE, "<kickstart>\n<pakage>x</pakage>\n</kickstart>",
         [(2, 'element "pakage" is not allowed here (inside <kickstart>)')]),
        (Kind.NODE, '<kickstart>\n\n<package typ="meta">x</package>\n</kickstart>',
         [(3, 'attribute "typ" is not allowed on <package>')]),
        (Kind.NODE, "<kickstart>\n<package>x</package>\n\n  stray text\n</kickstart>",
         [(4, 'text "stray text" is not allowed inside <kickstart>')]),
        (Kind.NODE, "<kickstart>\n  some words\n<package>x</package>\n</kickstart>",
         [(2, 'text "some words" is not allowed inside <kickstart>')]),
        (Kind.NODE, "<kickstart>\n<post>\n<file mode='append'>x</file>\n</post>\n</kickstart>",
         [(3, 'required attribute "name" is missing on <file>')]),
        (Kind.NODE, "<kickstart>\n<main>\n<url/>\n<bogus>x</bogus>\n</main>\n</kickstart>",
         [(4, 'element "bogus" is not allowed here (inside <main>)')]),
        (Kind.NODE, "<kickstart>\n<post>\n<package>x</package>\n</post>\n</kickstart>",
         [(3, 'element "package" is not allowed here (inside <post>)')]),
        (Kind.NODE, "<graph/>",
         [(1, 'element "graph" is not allowed as the root element '
              "(expected <jumpstart> or <kickstart>)")]),
        (Kind.NODE,
         "<kickstart>\n<post>\n<eval shel='sh'>x</eval>\n</post>\n<pakage/>\n<pre typo='1'/>\n"
         "</kickstart>",
         [(3, 'attribute "shel" is not allowed on <eval>'),
          (5, 'element "pakage" is not allowed here (inside <kickstart>)'),
          (6, 'attribute "typo" is not allowed on <pre>')]),
        (Kind.NODE, "<kickstart>\n<post>\n<include file='a.js'>text</include>\n</post>\n"
                    "</kickstart>",
         [(3, 'text "text" is not allowed inside <include>')]),
        (Kind.GRAPH, '<graph>\n<edge from="a"/>\n</graph>',
         [(2, '<edge> needs "to", as an attribute or as <to> child elements')]),
        (Kind.GRAPH, "<graph>\n<edge>\n<to>b</to>\n</edge>\n</graph>",
         [(2, '<edge> needs "from", as an attribute or as <from> child elements')]),
        (Kind.GRAPH, "<graph>\n<order/>\n</graph>",
         [(2, '<order> needs "head" and "tail", as attributes or as <head>/<tail> '
              "child elements")]),
        (Kind.GRAPH, '<graph>\n<order head="x"/>\n<edge from="a">\n<to>b</to>\n</edge>\n'
                     '<order tail="y"><tail>z</tail></order>\n</graph>',
         [(2, '<order> needs "tail", as an attribute or as <tail> child elements'),
          (6, '<order> needs "head", as an attribute or as <head> child elements')]),
        (Kind.GRAPH, '<graph>\n<appliance name="login"/>\n</graph>',
         [(2, 'required attribute "node" is missing on <appliance>')]),
        (Kind.GRAPH, '<graph>\n<appliance name="x" node="y" public="maybe"/>\n</graph>',
         [(2, 'attribute "public" on <appliance> must be one of "no", "yes", not "maybe"')]),
        (Kind.GRAPH, '<graph>\n<edge from="a">\n<tow>c</tow>\n</edge>\n</graph>',
         [(2, '<edge> needs "to", as an attribute or as <to> child elements'),
          (3, 'element "tow" is not allowed here (inside <edge>)')]),
        (Kind.GRAPH, "<graph>\n<edge from='a' to='b'>\nc\n</edge>\n</graph>",
         [(3, 'text "c" is not allowed inside <edge>')]),
        (Kind.ROLL, '<roll interface="4.0"/>',
         [(1, 'required attribute "name" is missing on <roll>')]),
        (Kind.ROLL, '<roll name="x">\n<trusted/>\n</roll>',
         [(2, 'element "trusted" is not allowed here (inside <roll>)')]),
        (Kind.ROLL, '<roll name="x">\n<info version="1"/>\n<info version="2"/>\n</roll>',
         [(3, 'element "info" may appear only once inside <roll>')]),
        (Kind.ROLL, '<roll name="x">\n<attribute value="1" secret="maybe"/>\n</roll>',
         [(2, 'attribute "secret" on <attribute> must be one of "no", "yes", not "maybe"'),
          (2, 'required attribute "name" is missing on <attribute>')]),
    ],
)
def test_rejected(kind: Kind, xml: str, expected: list[tuple[int, str]]) -> None:
    assert messages(kind, xml) == expected


def test_diagnostic_shape_and_hint() -> None:
    [d] = validate(load('<kickstart>\n<package typ="meta">x</package>\n</kickstart>'),
                   Kind.NODE, "nodes/x.xml")
    assert d == Diagnostic("schema", 'attribute "typ" is not allowed on <package>',
                           SourceLocation("nodes/x.xml", 2), 'did you mean "type"?')


def test_sentinel_is_shown_as_entity_in_messages() -> None:
    assert messages(Kind.NODE, "<kickstart>\n&hostname; here\n</kickstart>") == [
        (2, 'text "&hostname; here" is not allowed inside <kickstart>'),
    ]
