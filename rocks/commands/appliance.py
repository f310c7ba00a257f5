"""Appliance commands: the inventory's appliances, each a name and the graph node it starts at.

A site defines its own appliance by naming a root node of the graph (usually a site node that
extends a bundled one); the node is checked against the bundled graph and the site graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Rows, command, keyword, positional
from rocks.commands._inventory import session
from rocks.commands._lookup import need_appliance
from rocks.errors import RocksError

if TYPE_CHECKING:
    from rocks.compiler.graph import ConfigGraph


@command(
    positional("appliance", help="the new appliance's name"),
    keyword("node", default="", help="its root node in the graph (default: the same name)"),
    keyword("kickstartable", bool, default=True, help="hosts of it install from a kickstart"),
    keyword("public", bool, default=True, help="offered as a choice when hosts are discovered"),
    examples=("rocks add appliance my-compute node=my-compute",
              "rocks add appliance gpu node=gpu-node public=no"),
)
def add_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """Add an appliance whose hosts are built from the graph starting at node=."""
    from rocks.commands._inventory import cluster_source
    from rocks.inventory import queries as q
    from rocks.model.inventory import Appliance
    from rocks.profiles import cluster_graph

    name = args["appliance"]
    s = session(ctx)
    graph = cluster_graph(s, cluster_source(ctx)).graph
    declared = graph.appliances.get(name)
    node = args["node"] or (declared.node if declared is not None else name)
    if node not in graph.nodes and node not in graph.broken:
        raise _missing_node(name, node, graph, cluster_source(ctx).site)
    q.add_appliance(s, Appliance(name, node, args["kickstartable"], args["public"]))
    return None


def _missing_node(appliance: str, node: str, graph: ConfigGraph, site: Path) -> RocksError:
    import difflib

    where = site / "nodes" / f"{node}.xml"
    close = difflib.get_close_matches(node, sorted(graph.nodes), n=1)
    hint = f"write the node file {where} (the site graph) first"
    if close:
        hint = f"did you mean node={close[0]}? Otherwise {hint}"
    return RocksError.of(
        "unknown-node", f'appliance {appliance}: node "{node}" is not in the graph', hint=hint)


@command(positional("appliances", many=True, metavar="APPLIANCE", help="appliance names"),
         examples=("rocks remove appliance my-compute",))
def remove_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """Remove appliances that no host belongs to (their appliance attributes go with them)."""
    from rocks.inventory import queries as q

    s = session(ctx)
    for name in dict.fromkeys(args["appliances"]):
        need_appliance(s, name)
        q.remove_appliance(s, name)
    return None


@command(positional("appliances", many=True, default=(), metavar="APPLIANCE",
                    help="appliance names (none: all)"),
         tabular=True, examples=("rocks list appliance",))
def list_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """List the inventory's appliances, their root nodes, and whether each node is in the graph.

    The graph is the cluster's (bundled rolls, the store's enabled rolls, the site graph);
    `rocks check graph` explains problems.
    """
    from rocks.commands._inventory import cluster_source
    from rocks.inventory import queries as q
    from rocks.profiles import cluster_graph

    s = session(ctx)
    for name in args["appliances"]:
        need_appliance(s, name)
    wanted = set(args["appliances"])
    graph = cluster_graph(s, cluster_source(ctx)).graph
    return Rows(("appliance", "node", "kickstartable", "public", "in_graph"),
                ((a.name, a.node, a.kickstartable, a.public, a.node in graph.nodes)
                 for a in q.list_appliances(s) if not wanted or a.name in wanted))
