"""Graph files: edges, order constraints and appliance declarations, each with its location.

Forms (all equivalent, as Rocks read them): `<edge from="a" to="b"/>`, `<edge from="a"><to>b</to>
</edge>`, `<edge to="b"><from>a</from></edge>`; `<order head="x" tail="y"/>` with nested
`<head>`/`<tail>`. Conditions on a nested `<to>`/`<from>` are AND-ed with the edge's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rocks.compiler import schema
from rocks.compiler.cond import Condition, parse_condition
from rocks.compiler.xmlload import line_of, load_xml
from rocks.errors import Diagnostic, Diagnostics, RocksError, SourceLocation

HEAD = "HEAD"
TAIL = "TAIL"


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    cond: Condition | None
    location: SourceLocation
    # a condition that did not parse: the edge fails the traversals that reach its source
    broken: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    head: str
    tail: str
    gen: str
    location: SourceLocation


@dataclass(frozen=True, slots=True)
class ApplianceDecl:
    name: str
    node: str
    location: SourceLocation
    kickstartable: bool = True
    public: bool = True


@dataclass(frozen=True, slots=True)
class GraphFile:
    file: str
    roll: str
    digest: str
    edges: tuple[Edge, ...]
    orders: tuple[Order, ...]
    appliances: tuple[ApplianceDecl, ...]


def _cond(el: object, loc: SourceLocation, diags: Diagnostics) -> Condition | None:
    get = el.get  # type: ignore[attr-defined]
    if not any(get(k) is not None for k in ("arch", "os", "release", "cond")):
        return None
    try:
        return parse_condition(
            arch=get("arch"), os=get("os"), release=get("release"), cond=get("cond"),
            location=loc,
        )
    except RocksError as exc:
        diags.extend(exc.diagnostics)
        return None


def _both(a: Condition | None, b: Condition | None) -> Condition | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.and_(b)


def _names_ok(pairs: Sequence[tuple[str, object, SourceLocation] | tuple[str, str]],
              loc: SourceLocation, diags: Diagnostics) -> bool:
    from rocks.compiler.nodes import NAME_HINT, NAME_RE

    bad = [p[0] for p in pairs if not NAME_RE.fullmatch(p[0])]
    for name in bad:
        diags.error("bad-node-name", f"{name!r} is not a node name", loc, hint=NAME_HINT)
    return not bad


def load_graph_file(path: Path, file: str, roll: str, diags: Diagnostics,
                    within: Path | None = None) -> GraphFile | None:
    import hashlib

    try:
        loaded = load_xml(path, file, within=within)
    except RocksError as exc:
        diags.extend(exc.diagnostics)
        return None
    errors = schema.validate(loaded.root, schema.Kind.GRAPH, file)
    if errors:
        diags.extend(errors)
        return None
    edges: list[Edge] = []
    orders: list[Order] = []
    apps: list[ApplianceDecl] = []
    for el in loaded.root:
        if not isinstance(el.tag, str):
            continue
        loc = SourceLocation(file, line_of(el), roll)
        if el.tag == "edge":
            mark = len(diags.items)
            base = _cond(el, loc, diags)
            srcs = [(el.get("from", "").strip(), base, loc)] if el.get("from") else []
            dsts = [(el.get("to", "").strip(), base, loc)] if el.get("to") else []
            for sub in el:
                if not isinstance(sub.tag, str):
                    continue
                sloc = SourceLocation(file, line_of(sub), roll)
                entry = ((sub.text or "").strip(), _both(base, _cond(sub, sloc, diags)), sloc)
                (srcs if sub.tag == "from" else dsts).append(entry)
            if not _names_ok([*srcs, *dsts], loc, diags):
                continue
            if not srcs or not dsts:
                diags.error(
                    "edge-incomplete", "an edge needs both a from and a to node", loc,
                    hint='write <edge from="a" to="b"/> or nest <to>b</to> inside it',
                )
                continue
            for s, scond, sloc in srcs:
                for d, dcond, dloc in dsts:
                    # a nested element's condition already includes the edge's own
                    cond = dcond if dloc is not loc else scond
                    if sloc is not loc and dloc is not loc:
                        cond = _both(scond, dcond)
                    edges.append(Edge(s, d, cond, dloc if dloc is not loc else sloc,
                                      tuple(diags.items[mark:])))
        elif el.tag == "order":
            gen = el.get("gen", "")
            heads = [(el.get("head", "").strip(), gen)] if el.get("head") else []
            tails = [(el.get("tail", "").strip(), gen)] if el.get("tail") else []
            for sub in el:
                if isinstance(sub.tag, str):
                    item = ((sub.text or "").strip(), sub.get("gen", gen))
                    (heads if sub.tag == "head" else tails).append(item)
            if not _names_ok([*heads, *tails], loc, diags):
                continue
            if not heads or not tails:
                diags.error(
                    "order-incomplete", "an order needs both a head and a tail", loc,
                    hint='write <order head="a" tail="b"/> or nest <tail>b</tail> inside it',
                )
                continue
            for h, hgen in heads:
                for t, tgen in tails:
                    orders.append(Order(h, t, hgen or tgen, loc))
        elif el.tag == "appliance":
            if not _names_ok([(el.get("name", ""), ""), (el.get("node", ""), "")], loc, diags):
                continue
            apps.append(ApplianceDecl(
                name=el.get("name", ""), node=el.get("node", ""), location=loc,
                kickstartable=el.get("kickstartable", "yes").lower() in {"yes", "true", "1"},
                public=el.get("public", "yes").lower() in {"yes", "true", "1"},
            ))
    return GraphFile(
        file, roll, hashlib.sha256(loaded.data).hexdigest(), tuple(edges), tuple(orders),
        tuple(apps),
    )
