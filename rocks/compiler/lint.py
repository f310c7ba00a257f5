"""`rocks check graph`: every problem of the merged graph, each with its file and line.

Loading problems (XML, schema, conditions, duplicates, order cycles) come from the loader; this
adds what only the whole graph shows: edges to missing nodes, appliances without a root,
unreachable nodes, order constraints naming unknown nodes, conditions reading undeclared names.
"""

from __future__ import annotations

from rocks.compiler.graph import ConfigGraph
from rocks.compiler.graphfile import HEAD, TAIL
from rocks.compiler.service import INTRINSIC, RELEASE_ATTRS
from rocks.errors import Diagnostic, Diagnostics, SourceLocation


def lint(graph: ConfigGraph) -> list[Diagnostic]:
    d = Diagnostics()
    for e in graph.edges:
        for name in (e.src, e.dst):
            if name not in graph.nodes and name not in graph.broken:
                d.error(
                    "unknown-node", f'edge {e.src} -> {e.dst}: no node file "{name}.xml" in any '
                    "roll", e.location, hint="add the node file, fix the name, or remove the edge",
                )
    seen_orders: set[str] = set()
    for o in graph.orders:
        for name in (o.head, o.tail):
            if (name in (HEAD, TAIL) or name in graph.nodes or name in graph.broken
                    or name in seen_orders):
                continue
            seen_orders.add(name)
            d.warning(
                "order-unknown-node", f'order constraint names "{name}", which is no node',
                o.location, hint="Rocks ignores such constraints; check the spelling",
            )
    roots = {a.node for a in graph.appliances.values()}
    if roots:
        import networkx as nx

        g = graph.to_networkx()
        reach: set[str] = set()
        for r in roots:
            if r in g:
                reach |= {r} | nx.descendants(g, r)
        for name in sorted(set(graph.nodes) - reach):
            nf = graph.nodes[name].files[0]
            d.warning(
                "unreachable-node", f'node "{name}" is not reachable from any appliance',
                SourceLocation(nf.file, 1, nf.roll),
                hint="add an edge to it or remove it",
            )
    known = set(INTRINSIC) | set(graph.attributes)
    for values in RELEASE_ATTRS.values():
        known |= set(values)
    reported: set[str] = set()

    def check(names: frozenset[str], loc: SourceLocation) -> None:
        for n in sorted(names - known):
            if n in reported:
                continue
            reported.add(n)
            d.warning(
                "undefined-attribute", f'condition reads attribute "{n}", which no roll declares',
                loc, hint=f"declare {n} with a default in roll.xml (<attribute name=\"{n}\" "
                "value=\"...\"/>), or it is None",
            )

    for e in graph.edges:
        if e.cond is not None:
            check(e.cond.names(), e.location)
    for node in graph.nodes.values():
        for nf in node.files:
            stack = list(nf.body)
            while stack:
                el = stack.pop()
                if el.cond is not None:
                    check(el.cond.names(), nf.loc(el.line))
                stack.extend(el.children)
    return d.items
