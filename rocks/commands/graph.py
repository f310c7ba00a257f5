"""Commands over the configuration graph: appliances, profiles, node XML, lint and DOT."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._graphopts import (
    EVAL_PARAM,
    GRAPH_PARAMS,
    compiler_from,
    graph_from,
    read_attrs_file,
    report_warnings,
)
from rocks.errors import RocksError

PROFILE_PARAMS = (
    keyword("attrs", default="", metavar="FILE.json",
            help="attribute values from a JSON object (key=value pairs override it)"),
    keyword("provenance", bool, default=False,
            help="annotate each kickstart line with the roll, node file and line it came from"),
    EVAL_PARAM,
    *GRAPH_PARAMS,
)


def _profile(ctx: Context, args: dict[str, Any], root: str, appliance: str) -> Text:
    from rocks.compiler.service import preview_attributes

    graph = graph_from(args)
    attrs = preview_attributes(graph, appliance, args["release"])
    if args["attrs"]:
        attrs.update(read_attrs_file(args["attrs"]))
    attrs.update(args["extra"])
    comp = compiler_from(args, graph, provenance=args["provenance"])
    text = comp.render(root, attrs)
    report_warnings(ctx, comp.compile(root, attrs).warnings)
    return Text(text)


@command(positional("appliance", help="appliance name (rocks list appliance)"), *PROFILE_PARAMS,
         extra_keywords="extra",
         examples=("rocks list appliance profile compute",
                   "rocks list appliance profile compute x11=yes provenance=yes",
                   "rocks list appliance profile compute rolls=../myroll release=el9"))
def list_appliance_profile(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the kickstart of an appliance, compiled from the graph.

    Without a host, intrinsic attributes take sample values (hostname <appliance>-0-0, address
    10.1.255.254); any other key=value sets an attribute for this compile.
    """
    graph = graph_from(args)
    app = graph.appliances.get(args["appliance"])
    if app is None:
        raise _unknown_appliance(args["appliance"], sorted(graph.appliances))
    return _profile(ctx, args, app.node, app.name)


@command(positional("node", help="any node of the graph"), *PROFILE_PARAMS,
         extra_keywords="extra",
         examples=("rocks list node profile client",
                   "rocks list node profile compute rolls=../shared/corpus/rocks/base "
                   "bundled=no release=el7 eval=skip"))
def list_node_profile(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the kickstart compiled from any node of the graph as if it were a root."""
    return _profile(ctx, args, args["node"], args["node"])


@command(positional("node", help="any node of the graph"),
         keyword("attrs", default="", metavar="FILE.json", help="attribute values (JSON)"),
         *GRAPH_PARAMS, extra_keywords="extra",
         examples=("rocks list node xml compute",))
def list_node_xml(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the traversal from a node: each node file in order, as the XML it was written in."""
    from rocks.compiler.service import preview_attributes
    from rocks.compiler.xmlout import traversal_xml

    graph = graph_from(args)
    attrs = preview_attributes(graph, args["node"], args["release"])
    if args["attrs"]:
        attrs.update(read_attrs_file(args["attrs"]))
    attrs.update(args["extra"])
    return Text(traversal_xml(graph, args["node"], attrs, args["release"]))


@command(*GRAPH_PARAMS, EVAL_PARAM,
         examples=("rocks check graph", "rocks check graph rolls=../myroll"))
def check_graph(ctx: Context, args: dict[str, Any]) -> Result:
    """Check the merged graph and print every problem with its file and line.

    Errors: XML and schema errors, bad conditions, edges to missing nodes, duplicate node
    files, cycles in order constraints. Warnings: unreachable nodes, order constraints naming
    unknown nodes, conditions reading attributes no roll declares, and (with the bundled
    rolls) explicit Kickstart_* attributes that disagree with the inventory's networks. Exit
    status 2 on any error.
    """
    from pathlib import Path as P

    from rocks.compiler.lint import lint
    from rocks.compiler.service import load_graph_report

    graph, diags = load_graph_report(
        rolls=[P(p) for p in args["rolls"].split(",") if p.strip()], bundled=args["bundled"],
        release=args["release"], trusted=[t for t in args["trusted"].split(",") if t],
    )
    found = [*diags.items, *lint(graph)]
    if args["bundled"]:  # checking the cluster, not only roll directories
        found += _network_warnings(ctx, graph)
    def where(d: Any) -> tuple[str, int]:
        return (d.location.file, d.location.line) if d.location else ("", 0)

    errors = sorted((d for d in found if d.severity == "error"), key=where)
    warnings = sorted((d for d in found if d.severity == "warning"), key=where)
    ctx.report(warnings)
    summary = (f"{_n(len(graph.rolls), 'roll')}, {_n(len(graph.nodes), 'node')}, "
               f"{_n(len(graph.edges), 'edge')}, {_n(len(graph.appliances), 'appliance')}: "
               f"{_n(len(errors), 'error')}, {_n(len(warnings), 'warning')}")
    if errors:
        ctx.stderr.write(summary + "\n")
        raise RocksError(*errors)
    return Text(summary + "\n")


@command(positional("appliance", default="", help="draw only what this appliance reaches"),
         *GRAPH_PARAMS, examples=("rocks report graph compute | dot -Tsvg > compute.svg",))
def report_graph(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the graph (or one appliance's part of it) in Graphviz DOT."""
    from rocks.compiler.dot import to_dot

    graph = graph_from(args)
    root = None
    if args["appliance"]:
        app = graph.appliances.get(args["appliance"])
        if app is not None:
            root = app.node
        elif args["appliance"] in graph.nodes:
            root = args["appliance"]
        else:
            raise _unknown_appliance(args["appliance"], sorted(graph.appliances))
    return Text(to_dot(graph, root))


@command(keyword("dir", default="out/profiles", help="where to write <appliance>.ks"),
         EVAL_PARAM, *GRAPH_PARAMS, tabular=True, examples=("rocks create profiles",))
def create_profiles(ctx: Context, args: dict[str, Any]) -> Result:
    """Compile every appliance of the graph and write each kickstart to dir=."""
    from rocks.compiler.service import preview_attributes

    t0 = time.perf_counter()
    graph = graph_from(args)
    load_ms = (time.perf_counter() - t0) * 1000
    comp = compiler_from(args, graph)
    out = Path(args["dir"])
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for app in sorted(graph.appliances.values(), key=lambda a: a.name):
        if not app.kickstartable:
            continue
        t1 = time.perf_counter()
        attrs = preview_attributes(graph, app.name, args["release"])
        text = comp.render(app.node, attrs)
        ms = (time.perf_counter() - t1) * 1000
        path = out / f"{app.name}.ks"
        tmp = path.with_suffix(".ks.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        rows.append((app.name, str(path), text.count("\n"), f"{ms:.1f}"))
    ctx.stderr.write(f"loaded {len(graph.rolls)} rolls ({len(graph.nodes)} nodes) in "
                     f"{load_ms:.1f} ms; compiled and checked {len(rows)} appliances in "
                     f"{(time.perf_counter() - t0) * 1000 - load_ms:.1f} ms\n")
    return Rows(("appliance", "kickstart", "lines", "compile_ms"), rows)


def _network_warnings(ctx: Context, graph: Any) -> list[Any]:
    """Explicit Kickstart_* attributes that disagree with the inventory's networks."""
    from rocks.commands._inventory import session
    from rocks.compiler.service import global_defaults
    from rocks.inventory.netfacts import conflicts, resolve_global

    s = session(ctx)
    return conflicts(s, {**global_defaults(graph), **resolve_global(s).values})


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _unknown_appliance(name: str, known: list[str]) -> RocksError:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"?' if close else "appliances: " + ", ".join(known)
    return RocksError.of("unknown-appliance", f'unknown appliance "{name}"', hint=hint)
