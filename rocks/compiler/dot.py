"""Graphviz DOT for the configuration graph, whole or as one appliance sees it, and the SVG
Graphviz draws from it made safe to put into a page.

Names are checked when roll files load; the DOT text escapes them again on its own side (every
string quoted, no attribute a roll could name), and `page_svg` keeps only drawing elements, so
no link, script or event handler reaches the dashboard.
"""

from __future__ import annotations

import re

from rocks.compiler.graph import ConfigGraph

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


def _esc(text: str) -> str:
    """Text for inside a DOT double-quoted string: no quote, backslash or line break of its
    own (DOT's \\N-style escapes are backslashes too)."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", "?", text)
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _q(text: str) -> str:
    return f'"{_esc(text)}"'


def to_dot(graph: ConfigGraph, root: str | None = None) -> str:
    names = graph.reachable_all(root) if root else set(graph.nodes)
    rolls = sorted({n.roll for n in graph.nodes.values()})
    color = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(rolls)}
    lines = [f"digraph {_q(root or 'rocks')} {{", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fillcolor=white];']
    for r in rolls:
        lines.append(f"  // roll {_esc(r)}: {color[r]}")
    apps = {a.node: a.name for a in graph.appliances.values()}
    for name in sorted(names):
        node = graph.nodes.get(name)
        if node is None:
            label = _q(name + " (missing)")
            lines.append(f"  {_q(name)} [color=red, fontcolor=red, label={label}];")
            continue
        extra = ", penwidth=2, fillcolor=\"#eef3fb\"" if name in apps else ""
        label = "\\n".join([_esc(name), f"[{_esc(node.roll)}]",
                            *([f"appliance {_esc(apps[name])}"] if name in apps else [])])
        lines.append(f"  {_q(name)} [color={_q(color[node.roll])}, label=\"{label}\"{extra}];")
    for src in sorted(graph.adjacency):
        if src not in names:
            continue
        for e in graph.adjacency[src]:
            attrs = f" [label={_q(e.cond.source)}, style=dashed]" if e.cond is not None else ""
            lines.append(f"  {_q(e.src)} -> {_q(e.dst)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_SVG_DROP = frozenset({"script", "foreignObject", "a", "use", "image", "iframe", "object",
                       "embed", "animate", "set", "style"})


def page_svg(svg: str) -> str:
    """Graphviz's SVG reduced to what a page may inline: its drawing elements and their
    presentation attributes. Links, scripts, styles and event handlers are dropped (a link's
    drawing is kept), as are attribute values naming a URL scheme."""
    from lxml import etree

    start = svg.find("<svg")
    if start < 0:
        return ""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(svg[start:].encode(), parser)
    except etree.XMLSyntaxError:
        return ""
    for el in list(root.iter()):
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        if local in _SVG_DROP and el is not root:
            parent = el.getparent()
            if parent is None:
                continue
            if local == "a":  # keep what the link wraps
                index = parent.index(el)
                for child in list(el):
                    parent.insert(index, child)
                    index += 1
            parent.remove(el)
            continue
        for attr in list(el.attrib):
            name = etree.QName(attr).localname.lower()
            value = el.attrib[attr].lower().replace(" ", "")
            if (name.startswith("on") or name in ("href", "src", "style")
                    or re.search(r"(javascript|data|vbscript):", value)):
                del el.attrib[attr]
    return etree.tostring(root, encoding="unicode")
