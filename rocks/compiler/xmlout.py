"""`rocks list node xml`: the traversal as one XML document, each node file as written.

Rocks' `list node xml` printed the expanded node files that kgen would read; we print them with
`&name;` references intact, stamped with roll, file and the edge that brought each node in.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from rocks.compiler.graph import ConfigGraph
from rocks.compiler.nodes import XElem
from rocks.compiler.xmlload import unslot


def _text(s: str) -> str:
    return unslot(escape(s))


def _attr(s: str) -> str:
    return unslot(quoteattr(s))


def elem_xml(el: XElem) -> str:
    attrs = "".join(f" {k}={_attr(v)}" for k, v in el.attrs)
    if not el.parts:
        return f"<{el.tag}{attrs}/>"
    inner = "".join(_text(p) if isinstance(p, str) else elem_xml(p) for p in el.parts)
    return f"<{el.tag}{attrs}>{inner}</{el.tag}>"


def traversal_xml(graph: ConfigGraph, root: str, attrs: Mapping[str, str], release: str) -> str:
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           f"<profile root={quoteattr(root)} release={quoteattr(release)}>"]
    for visit in graph.traverse(root, attrs):
        node = graph.nodes[visit.node]
        for nf in node.files:
            out.append(
                f"<node name={quoteattr(node.name)} roll={quoteattr(nf.roll)} "
                f"file={quoteattr(nf.file)} kind={quoteattr(nf.kind.value)}"
                + (f" via={quoteattr(visit.via)}" if visit.via else "") + ">"
            )
            out.extend(elem_xml(el) for el in nf.body)
            out.append("</node>")
    out.append("</profile>")
    return "\n".join(out) + "\n"
