"""The real Rocks roll XML (../shared/corpus/rocks) loads, merges and compiles (Rocks 7 syntax)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rocks.compiler.check import validate_kickstart
from rocks.compiler.compile import EvalMode
from rocks.compiler.graphfile import load_graph_file
from rocks.compiler.nodes import load_node
from rocks.compiler.rolls import load_roll_selection
from rocks.compiler.service import Compiler, load_graph, preview_attributes
from rocks.errors import Diagnostics
from tests.conftest import REPO, need_corpus

ROLLS = ["base", "core", "hpc", "sge", "ganglia"]
SITE_ATTRS = json.loads((REPO / "tests" / "data" / "rocks7-attrs.json").read_text())


def corpus_files() -> list[Path]:
    root = need_corpus()
    return sorted(p for p in root.rglob("*.xml*") if not p.name.endswith(".xml.in"))


def kind_of(path: Path) -> str:
    if path.name == "rolls.xml":
        return "selection"
    if "graphs" in path.parts or path.name == "test.xml":
        return "graph"
    return "node"


def test_every_corpus_file_loads() -> None:
    files = corpus_files()
    assert len(files) >= 280
    counts = {"node": 0, "graph": 0, "selection": 0}
    for path in files:
        kind = kind_of(path)
        counts[kind] += 1
        diags = Diagnostics()
        if kind == "selection":
            assert load_roll_selection(path), path
            continue
        if kind == "graph":
            result = load_graph_file(path, str(path), "corpus", diags)
        else:
            result = load_node(path, str(path), roll="corpus", trusted=False, diags=diags)
        assert result is not None and not diags.errors, [str(d) for d in diags.errors]
    assert counts["graph"] >= 35
    assert counts["node"] >= 240


@pytest.fixture(scope="module")
def corpus_graph():  # type: ignore[no-untyped-def]
    root = need_corpus()
    return load_graph(rolls=[root / r for r in ROLLS], bundled=False, release="el7")


@pytest.fixture(scope="module")
def compiler(corpus_graph):  # type: ignore[no-untyped-def]
    return Compiler(corpus_graph, release="el7", eval_mode=EvalMode.SKIP)


def attrs_for(graph, appliance: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**preview_attributes(graph, appliance, "el7"), **SITE_ATTRS}


def test_base_and_core_duplicates_merge_as_one_node(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    # compute.xml ships byte-identical in base and core: one node, no error
    assert corpus_graph.nodes["compute"].roll in {"base", "core"}
    assert len(corpus_graph.nodes) == 165
    # the Rocks 7 overlay replaces the top-level upstart.xml
    assert "include-version/7" in corpus_graph.nodes["upstart"].files[0].file


@pytest.mark.parametrize("root", ["compute", "server", "login", "nas"])
def test_corpus_appliances_compile_and_pass_pykickstart_rhel7(compiler, corpus_graph, root) -> None:  # type: ignore[no-untyped-def]
    attrs = attrs_for(corpus_graph, root)
    compiled = compiler.compile(root, attrs)  # raises if pykickstart RHEL7 rejects it
    text = compiler.render(root, attrs)
    problems = [p for p in validate_kickstart(text, "el7") if p.severity == "error"]
    assert problems == []
    assert text.count("%packages --ignoremissing") == 1
    assert "@EVAL-SKIPPED:" in text  # evals are visible placeholders, not silently dropped
    assert len(compiled.profile.nodes) > 60


def order_of(graph, root):  # type: ignore[no-untyped-def]
    return [v.node for v in graph.traverse(root, attrs_for(graph, root))]


def test_compute_traversal_follows_rocks_order_rules(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    order = order_of(corpus_graph, "compute")
    # before-HEAD nodes of base.xml come first (partitions-save, python-development, rlo)
    assert order[:2] == ["partitions-save", "python-development"]
    # after-TAIL nodes close the list, postshell before ethers-server-postshell
    assert order[-4:] == ["compute", "postshell", "ethers-server-postshell", "pxeboot"]
    # every order constraint among reached nodes holds
    pos = {n: i for i, n in enumerate(order)}
    for o in corpus_graph.orders:
        if o.head in pos and o.tail in pos and o.gen in ("", "kgen"):
            assert pos[o.head] < pos[o.tail], (o.head, o.tail, o.location)
    # nodes no order constraint mentions appear alphabetically (the TAIL slot)
    ordered = {o.head for o in corpus_graph.orders} | {o.tail for o in corpus_graph.orders}
    free = [n for n in order if n not in ordered]
    assert free == sorted(free)
    # conditional edges: sge is on for these attributes, x11 off
    assert "sge-client" in order and "x11" not in order


def test_conditions_change_the_traversal(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    attrs = attrs_for(corpus_graph, "compute")
    no_sge = [v.node for v in corpus_graph.traverse("compute", {**attrs, "sge": "no"})]
    assert "sge-client" not in no_sge
    with_x11 = [v.node for v in corpus_graph.traverse("compute", {**attrs, "x11": "yes"})]
    assert "x11" in with_x11


def test_frontend_is_the_server_root(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    order = order_of(corpus_graph, "server")
    assert order.index("database") < order.index("database-schema") < order.index("database-data")
    assert "server" in order and "compute" not in order


def test_compiling_twice_is_byte_identical(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    attrs = attrs_for(corpus_graph, "compute")
    a = Compiler(corpus_graph, release="el7", eval_mode=EvalMode.SKIP).render("compute", attrs)
    fresh = load_graph(rolls=[r.path for r in corpus_graph.rolls], bundled=False, release="el7")
    b = Compiler(fresh, release="el7", eval_mode=EvalMode.SKIP).render("compute", attrs)
    assert a == b


def test_untrusted_evals_are_errors_naming_each_one(corpus_graph) -> None:  # type: ignore[no-untyped-def]
    from rocks.errors import RocksError

    c = Compiler(corpus_graph, release="el7", eval_mode=EvalMode.RUN, validate=False)
    with pytest.raises(RocksError) as exc:
        c.compile("compute", attrs_for(corpus_graph, "compute"))
    codes = {d.code for d in exc.value.diagnostics}
    assert codes == {"eval-untrusted"}
    where = {str(d.location) for d in exc.value.diagnostics}
    assert any(w.endswith("base/nodes/client-rootpw.xml:6") for w in where)
    assert len(exc.value.diagnostics) >= 10
