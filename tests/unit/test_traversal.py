"""Traversal as Rocks does it (ROCKS.md §B.5) on small graphs built for each case."""

from __future__ import annotations

from rocks.compiler.graph import order_nodes
from rocks.compiler.graphfile import Order
from rocks.compiler.service import load_graph
from rocks.errors import Diagnostics, SourceLocation

NODE = '<?xml version="1.0"?>\n<kickstart><package>{name}-pkg</package></kickstart>\n'


def graph_of(make_roll, edges: str, nodes: list[str]):  # type: ignore[no-untyped-def]
    files = {f"nodes/{n}.xml": NODE.format(name=n) for n in nodes}
    files["graphs/default/g.xml"] = f'<?xml version="1.0"?>\n<graph>\n{edges}\n</graph>\n'
    return load_graph(rolls=[make_roll("t", files)], bundled=False)


def names(g, root: str, attrs: dict[str, str] | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.node for v in g.traverse(root, attrs or {})]


def test_unordered_nodes_come_alphabetically_at_the_tail_slot(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root"><to>zeta</to><to>alpha</to><to>mid</to></edge>
    """, ["root", "zeta", "alpha", "mid"])
    assert names(g, "root") == ["alpha", "mid", "root", "zeta"]


def test_head_tail_and_chains(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root"><to>a</to><to>b</to><to>first</to><to>last</to><to>z</to></edge>
      <order tail="HEAD"><head>first</head></order>
      <order head="TAIL"><tail>last</tail></order>
      <order head="z" tail="a"/>
    """, ["root", "a", "b", "first", "last", "z"])
    # before-HEAD, then the chain z -> a, then unordered alphabetically at TAIL, then after-TAIL
    assert names(g, "root") == ["first", "z", "a", "b", "root", "last"]


def test_false_edges_are_pruned_with_their_subtree(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root" to="x11" cond="x11"/>
      <edge from="x11" to="desktop"/>
      <edge from="root"><to os="linux">linuxonly</to><to arch="ppc64le">power</to></edge>
    """, ["root", "x11", "desktop", "linuxonly", "power"])
    base = {"os": "linux", "arch": "x86_64"}
    assert names(g, "root", base) == ["linuxonly", "root"]
    assert names(g, "root", {**base, "x11": "yes"}) == ["desktop", "linuxonly", "root", "x11"]


def test_nested_to_condition_is_anded_with_the_edge(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root" cond="kvm"><to cond="rocks_version_major == 7">kvm7</to></edge>
    """, ["root", "kvm7"])
    assert names(g, "root", {"kvm": "yes", "rocks_version_major": "7"}) == ["kvm7", "root"]
    assert names(g, "root", {"kvm": "no", "rocks_version_major": "7"}) == ["root"]
    assert names(g, "root", {"kvm": "yes", "rocks_version_major": "6"}) == ["root"]


def test_cycles_in_edges_are_fine_each_node_once(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root" to="a"/><edge from="a" to="b"/><edge from="b" to="a"/>
      <edge from="b" to="root"/>
    """, ["root", "a", "b"])
    assert names(g, "root") == ["a", "b", "root"]
    assert [v.via for v in g.traverse("root", {})] == ["root -> a", "a -> b", ""]


def test_order_constraints_on_unreached_nodes_are_dropped(make_roll) -> None:  # type: ignore[no-untyped-def]
    g = graph_of(make_roll, """
      <edge from="root" to="a"/>
      <order head="ghost" tail="a"/>
    """, ["root", "a"])
    assert names(g, "root") == ["a", "root"]


def test_order_gen_other_than_kgen_is_ignored() -> None:
    loc = SourceLocation("g.xml", 1)
    d = Diagnostics()
    out = order_nodes([Order("b", "a", "", loc), Order("a", "b", "screen", loc)], d)
    assert not d.errors
    assert out.index("b") < out.index("a")


def test_order_cycle_is_an_error_naming_the_cycle() -> None:
    d = Diagnostics()
    order_nodes([Order("a", "b", "", SourceLocation("g.xml", 3)),
                 Order("b", "a", "", SourceLocation("g.xml", 4))], d)
    assert [str(e) for e in d.errors] == [
        "g.xml:3: error: order constraints form a cycle: a -> b -> a [order-cycle]\n"
        "  hint: remove one of the <order> declarations in the cycle"
    ]


def test_traversal_is_deterministic_across_loads(make_roll) -> None:  # type: ignore[no-untyped-def]
    edges = '<edge from="root">' + "".join(f"<to>n{i}</to>" for i in range(30)) + "</edge>"
    g1 = graph_of(make_roll, edges, ["root", *[f"n{i}" for i in range(30)]])
    g2 = load_graph(rolls=[g1.rolls[0].path], bundled=False)
    assert names(g1, "root") == names(g2, "root")
    assert g1.digest == g2.digest
