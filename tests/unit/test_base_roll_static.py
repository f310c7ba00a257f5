"""Static checks of the bundled base roll (rocks/data/rolls/base): well-formed XML, every entity
and condition name declared, graph and node files consistent, appliances declared. Needs no
compiler."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import pytest
from lxml import etree
from pykickstart.version import RHEL9, makeVersion

ROLL = Path(__file__).resolve().parents[2] / "rocks" / "data" / "rolls" / "base"
NODES = ROLL / "nodes"
GRAPH = ROLL / "graphs" / "default" / "base.xml"

# Supplied per host by the compiler, never declared by a roll.
INTRINSIC = frozenset(
    {
        "hostname",
        "appliance",
        "rack",
        "rank",
        "os",
        "arch",
        "release",
        "hostaddr",
        "ksmac",
        "install_token",
    }
)
XML_PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})
ENTITY = re.compile(r"&([A-Za-z_][A-Za-z0-9_.-]*);")
STRING = re.compile(r"'[^']*'|\"[^\"]*\"")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COND_WORDS = frozenset({"and", "or", "not", "in", "is", "None", "True", "False"})

EXPECTED_NODES = frozenset(
    {
        "access",
        "base",
        "client",
        "compute",
        "dnf-repo",
        "firewall",
        "install-finished",
        "install-log-begin",
        "install-log-end",
        "login",
        "nas",
        "nfs-client",
        "nfs-server",
        "node-info",
        "ntp-client",
        "ntp-server",
        "partition",
        "phone-home",
        "pxe-server",
        "release",
        "report-up",
        "resolv",
        "server",
        "ssh",
        "x11",
    }
)
APPLIANCES = {"frontend": "server", "compute": "compute", "login": "login", "nas": "nas"}


def text_of(el: etree._Element) -> str:
    return (el.text or "").strip()


def xml_files() -> list[Path]:
    return [ROLL / "roll.xml", GRAPH, *sorted(NODES.glob("*.xml"))]


def entity_names(text: str) -> set[str]:
    return {n for n in ENTITY.findall(text) if n not in XML_PREDEFINED}


def load(path: Path) -> etree._Element:
    """Parse with every attribute entity replaced by a placeholder, as no DOCTYPE declares them."""
    text = ENTITY.sub(
        lambda m: m.group(0) if m.group(1) in XML_PREDEFINED else "X",
        path.read_text(encoding="utf-8"),
    )
    return etree.fromstring(text.encode("utf-8"))


def declared() -> dict[str, list[etree._Element]]:
    out: dict[str, list[etree._Element]] = {}
    for el in load(ROLL / "roll.xml").iter("attribute"):
        out.setdefault(el.get("name", ""), []).append(el)
    return out


def cond_names(expr: str) -> set[str]:
    return {w for w in IDENT.findall(STRING.sub(" ", expr)) if w not in COND_WORDS}


def graph_edges(*, with_conditional: bool) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for e in load(GRAPH).iter("edge"):
        if e.get("cond") and not with_conditional:
            continue
        froms = [e.get("from")] if e.get("from") else [text_of(f) for f in e.findall("from")]
        tos = [e.get("to")] if e.get("to") else [text_of(t) for t in e.findall("to")]
        for f in froms:
            edges.setdefault(str(f), set()).update(str(t) for t in tos)
    return edges


def order_names() -> set[str]:
    names: set[str] = set()
    for o in load(GRAPH).iter("order"):
        names.update(v for v in (o.get("head"), o.get("tail")) if v)
        names.update(text_of(x) for x in (*o.findall("head"), *o.findall("tail")))
    return names - {"HEAD", "TAIL"}


def reachable(root: str, edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


@pytest.mark.parametrize("path", xml_files(), ids=lambda p: p.name)
def test_file_is_well_formed(path: Path) -> None:
    root = load(path)
    expected = {"roll.xml": "roll", "base.xml": "graph" if path == GRAPH else "kickstart"}
    assert root.tag == expected.get(path.name, "kickstart")


def test_node_files_are_the_expected_set() -> None:
    assert {p.stem for p in NODES.glob("*.xml")} == EXPECTED_NODES


def test_roll_header() -> None:
    root = load(ROLL / "roll.xml")
    assert (root.get("name"), root.get("interface")) == ("base", "4.0")
    info = root.find("info")
    assert info is not None
    assert (info.get("arch"), info.get("os")) == ("x86_64", "linux")


def test_every_attribute_has_a_value_and_doc_and_unique_scope() -> None:
    for name, els in declared().items():
        assert IDENT.fullmatch(name) and not keyword.iskeyword(name), name
        assert name not in INTRINSIC, f"{name} is intrinsic and must not be declared"
        scopes = [el.get("appliance") for el in els]
        assert len(scopes) == len(set(scopes)), f"{name} declared twice in one scope"
        assert None in scopes, f"{name} has no global default"
        for el in els:
            assert el.get("value") is not None, name
            assert (el.get("doc") or "").strip(), f"{name} lacks doc"
            assert el.get("appliance") in (None, *APPLIANCES), name


def test_rootpw_hash_is_secret_and_empty_by_default() -> None:
    (el,) = declared()["rootpw_hash"]
    assert (el.get("secret"), el.get("value")) == ("yes", "")


@pytest.mark.parametrize("path", [GRAPH, *sorted(NODES.glob("*.xml"))], ids=lambda p: p.name)
def test_entities_and_conditions_only_name_known_attributes(path: Path) -> None:
    known = set(declared()) | INTRINSIC
    used = entity_names(path.read_text(encoding="utf-8"))
    for el in load(path).iter():
        if isinstance(el.tag, str) and el.get("cond"):
            used |= cond_names(el.get("cond", ""))
    assert used - known == set()


# Declared for the frontend's own commands (power and console through BMCs), not the graph.
FRONTEND_READS = frozenset({"bmc_username", "bmc_password", "bmc_port", "bmc_scheme",
                            "bmc_verify", "bmc_system",
                            # which frontend serves a host, and where Kea's hosts live
                            "frontend", "sync_kea_hosts", "sync_kea_database"})


def test_every_declared_attribute_is_used_or_appliance_metadata() -> None:
    used: set[str] = set()
    for path in [GRAPH, *NODES.glob("*.xml")]:
        used |= entity_names(path.read_text(encoding="utf-8"))
        used |= {
            n
            for el in load(path).iter()
            if isinstance(el.tag, str)
            for n in cond_names(el.get("cond", ""))
        }
    assert set(declared()) - used - FRONTEND_READS == set()


def test_main_lines_only_splice_values_without_spaces() -> None:
    values = {n: [el.get("value", "") for el in els] for n, els in declared().items()}
    for path in NODES.glob("*.xml"):
        raw = path.read_text(encoding="utf-8")
        for block in re.findall(r"<main>(.*?)</main>", raw, re.S):
            for name in entity_names(block) - INTRINSIC:
                assert all(" " not in v for v in values[name]), f"{name} in {path.name}"


def test_main_children_are_rhel9_kickstart_commands() -> None:
    handler = makeVersion(RHEL9)
    seen = set()
    for path in NODES.glob("*.xml"):
        for main in load(path).iter("main"):
            for child in main:
                if isinstance(child.tag, str):
                    assert child.tag in handler.commands, f"{child.tag} in {path.name}"
                    seen.add(child.tag)
    assert {"url", "network", "rootpw", "lang", "timezone", "text", "reboot"} <= seen
    assert "install" not in seen and "auth" not in seen


def test_no_eval_include_or_file_cond() -> None:
    for path in NODES.glob("*.xml"):
        root = load(path)
        assert root.find(".//eval") is None, path.name
        # an %include names a file whose shapes (P.shape) a %pre of the same node writes,
        # so that the compiler can check each of them in place
        for inc in re.findall(r"%include (/[^\s<]+)", path.read_text(encoding="utf-8")):
            shapes = [f for f in root.iter("file") if f.get("name", "").startswith(inc + ".")]
            assert shapes and all(f.getparent().tag == "pre" for f in shapes), path.name
        for f in root.iter("file"):
            assert f.get("name", "").startswith("/"), path.name
            assert f.get("cond") is None, f"{path.name}: <file cond> is ignored; put it on <post>"
            assert f.get("mode", "create") in ("create", "append"), path.name
            assert f.get("vars", "literal") in ("literal", "expanded"), path.name
            assert re.fullmatch(r"0[0-7]{3}", f.get("perms", "0644")), path.name
            parent = f.getparent()
            assert parent is not None and parent.tag in ("pre", "post", "configure"), path.name


def test_graph_nodes_and_files_match() -> None:
    edges = graph_edges(with_conditional=True)
    in_graph = set(edges) | {t for ts in edges.values() for t in ts}
    in_graph |= {a.get("node", "") for a in load(GRAPH).iter("appliance")}
    files = {p.stem for p in NODES.glob("*.xml")}
    assert in_graph == files
    assert order_names() <= files


def test_four_appliances_declared() -> None:
    apps = {a.get("name"): a for a in load(GRAPH).iter("appliance")}
    assert {n: a.get("node") for n, a in apps.items()} == APPLIANCES
    assert all(a.get("kickstartable") == "yes" for a in apps.values())


def test_conditional_edges() -> None:
    conds = {
        (e.get("from"), e.get("to")): e.get("cond")
        for e in load(GRAPH).iter("edge")
        if e.get("cond")
    }
    assert conds == {("client", "x11"): "x11", ("server", "x11"): "x11"}


@pytest.mark.parametrize(
    ("appliance", "extra"),
    [
        ("frontend", {"server", "nfs-server", "ntp-server", "pxe-server"}),
        ("compute", {"compute", "client", "dnf-repo", "ntp-client", "report-up"}),
        ("login", {"login", "client", "dnf-repo", "ntp-client", "report-up"}),
        ("nas", {"nas", "client", "dnf-repo", "ntp-client", "nfs-server", "report-up"}),
    ],
)
def test_unconditional_traversal(appliance: str, extra: set[str]) -> None:
    common = {
        "access",
        "base",
        "firewall",
        "install-finished",
        "install-log-begin",
        "install-log-end",
        "nfs-client",
        "node-info",
        "partition",
        "phone-home",
        "release",
        "resolv",
        "ssh",
    }
    edges = graph_edges(with_conditional=False)
    assert reachable(APPLIANCES[appliance], edges) == common | extra
    assert "x11" in reachable(APPLIANCES[appliance], graph_edges(with_conditional=True))


def test_install_events_post_stage_and_token() -> None:
    for node, stage in [
        ("phone-home", "pre"),
        ("phone-home", "post"),
        ("install-finished", "finished"),
    ]:
        text = (NODES / f"{node}.xml").read_text(encoding="utf-8")
        assert f'--data-urlencode "stage={stage}"' in text
        assert '--data-urlencode "token=&install_token;"' in text
        assert "&Kickstart_FrontendURL;/install/events || true" in text
