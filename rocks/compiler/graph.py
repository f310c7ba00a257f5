"""The merged configuration graph of all rolls plus the site graph, and Rocks' traversal.

Merging: node names are global; `replace-X` stands in for `X`, `extend-X` files are appended
after it; a node file two rolls define differently is an error (byte-identical copies are one).
Traversal (ROCKS.md §B.5): the reachable set over edges whose conditions hold, then the order
constraints with HEAD and TAIL, unordered nodes alphabetically at the TAIL slot.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from rocks.compiler.graphfile import HEAD, TAIL, ApplianceDecl, Edge, GraphFile, Order
from rocks.compiler.nodes import NodeFile, NodeKind, XElem
from rocks.compiler.rolls import AttributeDecl, RollInfo
from rocks.errors import Diagnostic, Diagnostics, RocksError, SourceLocation

ENGINE_VERSION = "1"


@dataclass(frozen=True, slots=True)
class GraphNode:
    name: str
    files: tuple[NodeFile, ...]  # base or replace first, then the extend- files

    @property
    def roll(self) -> str:
        return self.files[0].roll


@dataclass(frozen=True, slots=True)
class Visit:
    node: str
    via: str  # "a -> b" for the edge that first reached it; "" for the root


@dataclass
class ConfigGraph:
    rolls: tuple[RollInfo, ...]
    nodes: dict[str, GraphNode]
    edges: tuple[Edge, ...]
    orders: tuple[Order, ...]
    appliances: dict[str, ApplianceDecl]
    attributes: dict[str, AttributeDecl]
    digest: str
    warnings: tuple = ()
    order_list: tuple[str, ...] = ()
    adjacency: dict[str, tuple[Edge, ...]] = field(default_factory=dict)
    # Faults stay local: a node whose file (or an extend-/replace- file of it) did not load,
    # and a roll whose graph or roll.xml did not, fail only the traversals that reach them,
    # with their own errors (the root cause), never as "unknown node".
    broken: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    broken_rolls: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    _inputs: dict[str, frozenset[str]] = field(default_factory=dict)
    _has_eval: dict[str, bool] = field(default_factory=dict)

    def traverse(self, root: str, attrs: Mapping[str, str]) -> list[Visit]:
        """Ordered node list for `root` under `attrs`; raises on unknown or broken nodes."""
        if root in self.broken:
            raise RocksError(*self.broken[root])
        if root not in self.nodes:
            raise RocksError.of(
                "unknown-node", f'root node "{root}" has no node file',
                hint="an appliance's root must be a node defined by some roll or the site graph",
            )
        via: dict[str, str] = {root: ""}
        stack = [root]
        while stack:
            name = stack.pop()
            # push in reverse name order so children are visited alphabetically
            for edge in reversed(self.adjacency.get(name, ())):
                if edge.broken:
                    raise RocksError(*edge.broken)
                if edge.dst in via:
                    continue
                if edge.cond is not None and not edge.cond.evaluate(attrs):
                    continue
                if edge.dst in self.broken:
                    raise RocksError(*self.broken[edge.dst])
                if edge.dst not in self.nodes:
                    raise RocksError.of(
                        "unknown-node",
                        f'edge {edge.src} -> {edge.dst}: no node file "{edge.dst}.xml" in any roll',
                        edge.location,
                        hint="add the node file, fix the name, or remove the edge",
                    )
                via[edge.dst] = f"{edge.src} -> {edge.dst}"
                stack.append(edge.dst)
        if self.broken_rolls:
            for name in sorted(via):
                for f in self.nodes[name].files:
                    if f.roll in self.broken_rolls:
                        raise RocksError(*self.broken_rolls[f.roll])
        ordered = set(self.order_list)
        out: list[Visit] = []
        for name in self.order_list:
            if name == TAIL:
                out.extend(Visit(n, via[n]) for n in sorted(via) if n not in ordered)
            elif name != HEAD and name in via:
                out.append(Visit(name, via[name]))
        return out

    def to_networkx(self) -> Any:
        """The merged graph as a networkx MultiDiGraph: nodes carry their roll, edges their
        condition text and location (for analysis and drawing; traversal does not need it)."""
        import networkx as nx

        g: Any = nx.MultiDiGraph()
        for name, node in self.nodes.items():
            g.add_node(name, roll=node.roll, files=[f.file for f in node.files])
        for e in self.edges:
            g.add_edge(e.src, e.dst, cond=e.cond.source if e.cond is not None else "",
                       location=str(e.location))
        return g

    def reachable_all(self, root: str) -> set[str]:
        """Every node reachable from root if every condition held (for static analysis)."""
        seen = {root}
        stack = [root]
        while stack:
            for edge in self.adjacency.get(stack.pop(), ()):
                if edge.dst not in seen:
                    seen.add(edge.dst)
                    stack.append(edge.dst)
        return seen

    def condition_inputs(self, root: str) -> frozenset[str]:
        """Attribute names any condition reachable from `root` reads: the compile-cache key."""
        if root not in self._inputs:
            names: set[str] = set()
            has_eval = False
            reach = self.reachable_all(root)
            for n in reach:
                for edge in self.adjacency.get(n, ()):
                    if edge.cond is not None:
                        names |= edge.cond.names()
                node = self.nodes.get(n)
                if node is not None:
                    for f in node.files:
                        for el in f.body:
                            has_eval |= _collect(el, names)
            self._inputs[root] = frozenset(names)
            self._has_eval[root] = has_eval
        return self._inputs[root]

    def has_eval(self, root: str) -> bool:
        self.condition_inputs(root)
        return self._has_eval[root]


def _collect(el: XElem, names: set[str]) -> bool:
    has_eval = el.tag == "eval"
    if el.cond is not None:
        names |= el.cond.names()
    for p in el.parts:
        if isinstance(p, XElem):
            has_eval |= _collect(p, names)
    return has_eval


def order_nodes(orders: Iterable[Order], diags: Diagnostics) -> tuple[str, ...]:
    """Rocks' OrderIterator with a stable tie-break (by name); cycles are errors.

    Nodes with no predecessor (and not already before HEAD) follow HEAD; nodes with no successor
    (and not already after TAIL) precede TAIL; the order is the lexicographic topological sort.
    On a cycle the nodes sorted so far are returned and the cycle is reported at its first
    <order> declaration."""
    import networkx as nx

    g: Any = nx.DiGraph()
    g.add_nodes_from((HEAD, TAIL))
    where: dict[tuple[str, str], SourceLocation] = {}
    for o in orders:
        if o.gen not in ("", "kgen"):
            continue
        g.add_edge(o.head, o.tail)
        where.setdefault((o.head, o.tail), o.location)
    names = sorted(n for n in g if n not in (HEAD, TAIL))
    before_head = nx.ancestors(g, HEAD)
    g.add_edges_from((HEAD, n) for n in names
                     if n not in before_head and g.in_degree(n) == 0)
    after_tail = nx.descendants(g, TAIL)
    g.add_edges_from((n, TAIL) for n in names
                     if n not in after_tail and g.out_degree(n) == 0)

    out: list[str] = []
    try:
        out.extend(nx.lexicographical_topological_sort(g))
    except nx.NetworkXUnfeasible:
        cycle = _find_cycle(g, set(g) - set(out))
        pairs = list(itertools.pairwise(cycle))
        loc = min((where[p] for p in pairs if p in where), default=None)
        diags.error(
            "order-cycle", "order constraints form a cycle: " + " -> ".join(cycle), loc,
            hint="remove one of the <order> declarations in the cycle",
        )
    return tuple(out)


def _find_cycle(g: Any, left: set[str]) -> list[str]:
    """The cycle through the smallest node of the first strongly connected component (by name)
    that has one, as [a, b, ..., a]; the nodes sorting cannot place include nodes only downstream
    of a cycle, which belong to none."""
    import networkx as nx

    sub = g.subgraph(left)
    cyclic = [c for c in nx.strongly_connected_components(sub)
              if len(c) > 1 or any(sub.has_edge(n, n) for n in c)]
    component = min(cyclic, key=min)
    # a subgraph with sorted adjacency so the depth-first search (and the message) is stable
    h: Any = nx.DiGraph()
    h.add_edges_from(sorted(sub.subgraph(component).edges))
    edges = nx.find_cycle(h, source=min(component))
    return [edges[0][0], *(v for _, v in edges)]


def merge(
    rolls: Iterable[RollInfo],
    node_files: Iterable[NodeFile],
    graph_files: Iterable[GraphFile],
    diags: Diagnostics,
    broken: Mapping[str, tuple[Diagnostic, ...]] | None = None,
    broken_rolls: Mapping[str, tuple[Diagnostic, ...]] | None = None,
) -> ConfigGraph:
    """Merge loaded files; `broken` names nodes whose files did not load (with why), so that
    what follows from them is not reported again as a problem of its own."""
    rolls = tuple(rolls)
    bad: dict[str, tuple[Diagnostic, ...]] = dict(broken or {})
    base: dict[str, NodeFile] = {}
    replace: dict[str, NodeFile] = {}
    extend: dict[str, list[NodeFile]] = {}
    h = hashlib.sha256(f"rocks-engine {ENGINE_VERSION}\n".encode())
    for nf in node_files:
        # names, not display paths (those depend on the working directory): a roll's node
        # and graph file names are unique within it
        h.update(f"node {nf.roll} {nf.path.name} {nf.digest}\n".encode())
        if nf.kind is NodeKind.EXTEND:
            extend.setdefault(nf.name, []).append(nf)
            continue
        table = base if nf.kind is NodeKind.BASE else replace
        prior = table.get(nf.name)
        if prior is None:
            table[nf.name] = nf
        elif prior.digest != nf.digest:
            diags.error(
                "duplicate-node",
                f'node file "{nf.path.name}" is defined differently by roll {prior.roll} '
                f"({prior.file}) and roll {nf.roll} ({nf.file})",
                SourceLocation(nf.file, 1, nf.roll),
                hint="a node name is global: rename one, or override it with replace-<name>.xml "
                "in the site graph",
            )
            bad[nf.name] = (*bad.get(nf.name, ()), diags.items[-1])
    nodes: dict[str, GraphNode] = {}
    for name in sorted(set(base) | set(replace)):
        first = replace.get(name) or base[name]
        nodes[name] = GraphNode(name, (first, *extend.get(name, [])))
    for name, exts in sorted(extend.items()):
        if name not in nodes and name not in bad:
            for e in exts:
                diags.error(
                    "extend-without-base",
                    f'{e.path.name} extends node "{name}", which no roll defines',
                    SourceLocation(e.file, 1, e.roll),
                    hint=f"add {name}.xml, or rename the file if the node name is misspelled",
                )

    edges: list[Edge] = []
    orders: list[Order] = []
    apps: dict[str, ApplianceDecl] = {}
    for gf in graph_files:
        h.update(f"graph {gf.roll} {PurePath(gf.file).name} {gf.digest}\n".encode())
        edges.extend(gf.edges)
        orders.extend(gf.orders)
        for a in gf.appliances:
            if a.name in apps and apps[a.name] != a:
                prev = apps[a.name]
                if (prev.node, prev.kickstartable, prev.public) != (a.node, a.kickstartable,
                                                                     a.public):
                    diags.error(
                        "duplicate-appliance",
                        f'appliance "{a.name}" is declared twice (also at {prev.location})',
                        a.location, hint="declare each appliance once",
                    )
                    continue
            apps[a.name] = a
    attrs: dict[str, AttributeDecl] = {}
    for r in rolls:
        h.update(f"roll {r.name} {r.version} {r.trusted}\n".encode())
        for ad in r.attributes:
            h.update(f"attr {ad.name} {ad.appliance} {ad.value} {ad.secret}\n".encode())
            attrs.setdefault(ad.name, ad)
    for a in sorted(apps.values(), key=lambda a: a.name):
        if a.node not in nodes and a.node not in bad:
            diags.error(
                "unknown-node", f'appliance {a.name}: root node "{a.node}" has no node file',
                a.location, hint="point the appliance at an existing node, or add the node file",
            )
    adjacency: dict[str, list[Edge]] = {}
    seen_edges: set[tuple[str, str, str]] = set()
    for edge in edges:
        key = (edge.src, edge.dst, edge.cond.source if edge.cond is not None else "")
        if key in seen_edges:
            continue
        seen_edges.add(key)
        adjacency.setdefault(edge.src, []).append(edge)
    order_list = order_nodes(orders, diags)
    return ConfigGraph(
        rolls=rolls, nodes=nodes, edges=tuple(edges), orders=tuple(orders), appliances=apps,
        attributes=attrs, digest=h.hexdigest(), order_list=order_list,
        adjacency={k: tuple(sorted(v, key=lambda e: e.dst)) for k, v in adjacency.items()},
        broken=bad, broken_rolls=dict(broken_rolls or {}),
    )
