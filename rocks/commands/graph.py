"""Commands over the configuration graph: appliances, profiles, node XML, lint and DOT."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._graphopts import (
    EVAL_PARAM,
    GRAPH_PARAMS,
    cluster_from,
    graph_from,
    read_attrs_file,
    report_warnings,
    service_from,
    session_if_any,
)
from rocks.errors import Diagnostic, RocksError

if TYPE_CHECKING:
    from rocks.profiles import Cluster, ProfileService

PROFILE_PARAMS = (
    keyword("attrs", default="", metavar="FILE.json",
            help="attribute values from a JSON object (key=value pairs override it)"),
    keyword("provenance", bool, default=False,
            help="annotate each kickstart line with the roll, node file and line it came from"),
    EVAL_PARAM,
    *GRAPH_PARAMS,
)


def _attrs(ctx: Context, args: dict[str, Any], svc: ProfileService, appliance: str
           ) -> dict[str, str]:
    """Preview values: roll defaults and sample intrinsics, then the inventory's global, os and
    appliance attributes, then attrs=FILE, then key=value pairs."""
    attrs = svc.preview(appliance, session_if_any(ctx, args))
    if args["attrs"]:
        attrs.update(read_attrs_file(args["attrs"]))
    attrs.update(args["extra"])
    return attrs


def _profile(ctx: Context, args: dict[str, Any], svc: ProfileService, root: str,
             appliance: str) -> Text:
    attrs = _attrs(ctx, args, svc, appliance)
    text = svc.compiler.render(root, attrs)
    report_warnings(ctx, svc.compiler.compile(root, attrs).warnings)
    return Text(text)


@command(positional("appliance", help="appliance name (rocks list appliance)"), *PROFILE_PARAMS,
         extra_keywords="extra",
         examples=("rocks list appliance profile compute",
                   "rocks list appliance profile compute x11=yes provenance=yes",
                   "rocks list appliance profile compute rolls=../myroll release=el9"))
def list_appliance_profile(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the kickstart of an appliance, compiled from the cluster's graph.

    The appliance is one of the inventory (rocks add appliance) or one a roll declares. Without
    a host, intrinsic attributes take sample values (hostname <appliance>-0-0, address
    10.1.255.254); the inventory's global, os and appliance attributes apply; any other
    key=value sets an attribute for this compile.
    """
    svc = service_from(ctx, args, provenance=args["provenance"])
    root = svc.roots.get(args["appliance"])
    if root is None:
        raise _unknown_appliance(args["appliance"], sorted(svc.roots))
    return _profile(ctx, args, svc, root, args["appliance"])


@command(positional("node", help="any node of the graph"), *PROFILE_PARAMS,
         extra_keywords="extra",
         examples=("rocks list node profile client",
                   "rocks list node profile compute rolls=../shared/corpus/rocks/base "
                   "bundled=no release=el7 eval=skip"))
def list_node_profile(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the kickstart compiled from any node of the graph as if it were a root."""
    svc = service_from(ctx, args, provenance=args["provenance"])
    return _profile(ctx, args, svc, args["node"], args["node"])


@command(positional("node", help="any node of the graph"),
         keyword("attrs", default="", metavar="FILE.json", help="attribute values (JSON)"),
         *GRAPH_PARAMS, extra_keywords="extra",
         examples=("rocks list node xml compute",))
def list_node_xml(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the traversal from a node: each node file in order, as the XML it was written in."""
    from rocks.compiler.service import preview_attributes
    from rocks.compiler.xmlout import traversal_xml

    graph = graph_from(ctx, args)
    attrs = preview_attributes(graph, args["node"], args["release"])
    if args["attrs"]:
        attrs.update(read_attrs_file(args["attrs"]))
    attrs.update(args["extra"])
    return Text(traversal_xml(graph, args["node"], attrs, args["release"]))


@command(*GRAPH_PARAMS, EVAL_PARAM,
         examples=("rocks check graph", "rocks check graph rolls=../myroll"))
def check_graph(ctx: Context, args: dict[str, Any]) -> Result:
    """Check the merged graph, say what will be served, and print every problem located.

    Lists the rolls the graph is built from (bundled, the store's enabled rolls and their
    trust, rolls=), the site graph, and — for the cluster's own graph — whether each appliance
    compiles. Errors: XML and schema errors, bad conditions, edges to missing nodes, duplicate
    node files, cycles in order constraints, appliances that do not compile. Warnings:
    unreachable nodes, order constraints naming unknown nodes, conditions reading attributes
    no roll declares, and (for the cluster's own graph) explicit Kickstart_* attributes that
    disagree with the inventory's networks. Root causes come first. Exit status 2 on any error.
    """
    from rocks.compiler.lint import lint

    cluster = cluster_from(ctx, args)
    graph = cluster.graph
    root_causes = {id(d) for ds in (*graph.broken.values(), *graph.broken_rolls.values())
                   for d in ds} | {id(d) for e in graph.edges for d in e.broken}
    found = [*cluster.diagnostics.items, *lint(graph)]
    if args["bundled"]:  # checking the cluster, not only roll directories
        found += _network_warnings(ctx, args, graph)

    def order(d: Diagnostic) -> tuple[int, str, int]:
        where = (d.location.file, d.location.line) if d.location else ("", 0)
        return (0 if id(d) in root_causes else 1, *where)

    lines = _served(cluster)
    if args["bundled"] and not cluster.global_errors:
        status, failed = _appliances(ctx, args, cluster)
        lines += status
        found += [d for d in failed if id(d) not in root_causes]
    # one line per problem: a compile may report again what loading the graph found
    found = list({(d.severity, d.code, d.message, str(d.location or "")): d
                  for d in found}.values())
    errors = sorted((d for d in found if d.severity == "error"), key=order)
    warnings = sorted((d for d in found if d.severity == "warning"), key=order)
    ctx.report(warnings)
    summary = (f"{_n(len(graph.rolls), 'roll')}, {_n(len(graph.nodes), 'node')}, "
               f"{_n(len(graph.edges), 'edge')}, {_n(len(graph.appliances), 'appliance')}: "
               f"{_n(len(errors), 'error')}, {_n(len(warnings), 'warning')}")
    ctx.stdout.write("".join(f"{line}\n" for line in lines))
    if errors:
        ctx.stderr.write(summary + "\n")
        raise RocksError(*errors)
    return Text(summary + "\n")


def _served(cluster: Cluster) -> list[str]:
    """What the graph is built from, one line each (empty for a roll author's rolls alone)."""
    inputs = cluster.inputs
    if not inputs.bundled:
        return []
    lines = [f"release {inputs.release}"]
    for d in inputs.bundled:
        state = "disabled" if d.name in inputs.disabled else "enabled"
        lines.append(f"roll {d.name}: bundled, {state}, "
                     f"{'trusted' if d.name in inputs.trusted else 'untrusted'}")
    for r in inputs.store:
        what = ("enabled" if r.enabled else "disabled") + ("" if r.configures
                                                           else ", packages only")
        lines.append(f"roll {r.name} {r.version} {r.arch}: store, {what}, "
                     f"{'trusted' if r.name in inputs.trusted else 'untrusted'}")
    for d in inputs.extra:
        lines.append(f"roll {d}: rolls=")
    if inputs.site is not None:
        count = sum(1 for p in inputs.site.rglob("*.xml") if p.is_file())
        lines.append(f"site graph {inputs.site}: {_n(count, 'file')}")
    else:
        lines.append("site graph: none")
    return lines


def _appliances(ctx: Context, args: dict[str, Any], cluster: Cluster
                ) -> tuple[list[str], list[Diagnostic]]:
    """Compile each kickstartable appliance as the frontend would (preview attributes)."""
    from rocks.profiles import ProfileService, appliance_roots, compiler_for

    s = session_if_any(ctx, args)
    svc = ProfileService(cluster.graph, compiler_for(cluster), appliance_roots(cluster, s),
                         cluster)
    lines: list[str] = []
    failed: list[Diagnostic] = []
    kickstartable = {a.name for a in cluster.graph.appliances.values() if a.kickstartable}
    if s is not None:
        from rocks.inventory import queries as q

        kickstartable = {a.name for a in q.list_appliances(s) if a.kickstartable}
    for name in sorted(kickstartable):
        root = svc.roots.get(name, name)
        try:
            compiled = svc.compiler.compile(root, _attrs(ctx, {**args, "attrs": "",
                                                               "extra": {}}, svc, name))
        except RocksError as exc:
            first = exc.diagnostics[0]
            lines.append(f"appliance {name}: FAILS: {first.location or ''} {first.message}"
                         .replace(":  ", ": "))
            failed.extend(exc.diagnostics)
            continue
        lines.append(f"appliance {name}: {root}, {_n(len(compiled.profile.nodes), 'node')}, "
                     f"{_n(len(compiled.profile.packages), 'package')}")
    return lines, failed


@command(positional("appliance", default="", help="draw only what this appliance reaches"),
         *GRAPH_PARAMS, examples=("rocks report graph compute | dot -Tsvg > compute.svg",))
def report_graph(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the graph (or one appliance's part of it) in Graphviz DOT."""
    from rocks.compiler.dot import to_dot

    graph = graph_from(ctx, args)
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
    t0 = time.perf_counter()
    svc = service_from(ctx, args)
    graph, comp = svc.graph, svc.compiler
    load_ms = (time.perf_counter() - t0) * 1000
    out = Path(args["dir"])
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for app in sorted(graph.appliances.values(), key=lambda a: a.name):
        if not app.kickstartable:
            continue
        t1 = time.perf_counter()
        attrs = _attrs(ctx, {**args, "attrs": "", "extra": {}}, svc, app.name)
        text = comp.render(svc.roots.get(app.name, app.node), attrs)
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


def _network_warnings(ctx: Context, args: dict[str, Any], graph: Any) -> list[Any]:
    """Explicit Kickstart_* attributes that disagree with the inventory's networks."""
    from rocks.siteconfig import global_settings, network_warnings

    s = session_if_any(ctx, args)
    if s is None:
        return []
    return network_warnings(s, global_settings(s, None, graph))


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _unknown_appliance(name: str, known: list[str]) -> RocksError:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f'did you mean "{close[0]}"?' if close else "appliances: " + ", ".join(known)
    return RocksError.of("unknown-appliance", f'unknown appliance "{name}"', hint=hint)
