"""Graphviz DOT for the configuration graph, whole or as one appliance sees it."""

from __future__ import annotations

from rocks.compiler.graph import ConfigGraph

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: ConfigGraph, root: str | None = None) -> str:
    names = graph.reachable_all(root) if root else set(graph.nodes)
    rolls = sorted({n.roll for n in graph.nodes.values()})
    color = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(rolls)}
    lines = [f"digraph {_q(root or 'rocks')} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fillcolor=white];']
    for r in rolls:
        lines.append(f"  // roll {r}: {color[r]}")
    apps = {a.node: a.name for a in graph.appliances.values()}
    for name in sorted(names):
        node = graph.nodes.get(name)
        if node is None:
            label = _q(name + " (missing)")
            lines.append(f"  {_q(name)} [color=red, fontcolor=red, label={label}];")
            continue
        extra = ", penwidth=2, fillcolor=\"#eef3fb\"" if name in apps else ""
        label = f"{name}\\n[{node.roll}]" + (f"\\nappliance {apps[name]}" if name in apps else "")
        lines.append(f"  {_q(name)} [color={_q(color[node.roll])}, label=\"{label}\"{extra}];")
    for src in sorted(graph.adjacency):
        if src not in names:
            continue
        for e in graph.adjacency[src]:
            attrs = f" [label={_q(e.cond.source)}, style=dashed]" if e.cond is not None else ""
            lines.append(f"  {_q(e.src)} -> {_q(e.dst)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"
