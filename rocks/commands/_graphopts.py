"""Parameters shared by every command that loads the graph, mapped onto the one function that
builds it (rocks.profiles.cluster_graph).

A roll author tests a roll under development without installing it: `rolls=DIR[,DIR…]` adds roll
directories to the cluster's graph (bundled rolls, the store's enabled rolls, the site graph),
`bundled=no` compiles them alone, `trusted=`, `release=`, `eval=skip`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Param, keyword
from rocks.errors import RocksError, SourceLocation
from rocks.resources import releases

if TYPE_CHECKING:
    from rocks.compiler.graph import ConfigGraph
    from rocks.inventory.db import Session
    from rocks.profiles import Cluster, GraphOptions, ProfileService

GRAPH_PARAMS: tuple[Param, ...] = (
    keyword("rolls", default="", metavar="DIR[,DIR...]",
            help="roll directories to add to the bundled rolls (nodes/ and graphs/default/)"),
    keyword("bundled", bool, default=True,
            help="include the bundled rolls and the site graph (no: only rolls=)"),
    keyword("release", default="el9", choices=releases(),
            help="target release: el9 (Rocky/Alma 9), el10, or el7 for Rocks-era rolls"),
    keyword("trusted", default="", metavar="ROLL[,ROLL...]",
            help="rolls whose <eval> blocks may run on this machine"),
)
EVAL_PARAM = keyword("eval", default="run", choices=("run", "skip"),
                     help="skip: put a visible placeholder where each <eval>'s output would go")


def _split(value: str) -> list[str]:
    return [v for v in (x.strip() for x in value.split(",")) if v]


def options_from(args: Mapping[str, Any], *, provenance: bool = False) -> GraphOptions:
    from rocks.profiles import GraphOptions

    return GraphOptions(
        release=args["release"], rolls=tuple(Path(p) for p in _split(args["rolls"])),
        bundled=args["bundled"], trusted=tuple(_split(args["trusted"])),
        eval_mode=args.get("eval", "run"), provenance=provenance,
    )


def session_if_any(ctx: Context, args: Mapping[str, Any]) -> Session | None:
    """The inventory when the graph needs it (the store's enabled rolls and their trust) and
    one exists; a graph command never creates a state of its own."""
    from rocks.commands._inventory import has_inventory, session

    if not args["bundled"] or not has_inventory(ctx):
        return None
    return session(ctx)


def cluster_from(ctx: Context, args: Mapping[str, Any]) -> Cluster:
    """The cluster's graph (rocks.profiles.cluster_graph) with the roll-author options."""
    from rocks.commands._inventory import cluster_source
    from rocks.profiles import cluster_graph

    source = cluster_source(ctx) if args["bundled"] else None
    return cluster_graph(session_if_any(ctx, args), source, options_from(args))


def graph_from(ctx: Context, args: Mapping[str, Any]) -> ConfigGraph:
    cluster = cluster_from(ctx, args)
    cluster.raise_if_unusable()
    return cluster.graph


def service_from(ctx: Context, args: Mapping[str, Any], *, provenance: bool = False
                 ) -> ProfileService:
    """The graph, a compiler over it and the appliances' roots (graph, then inventory)."""
    from rocks.commands._inventory import cluster_source
    from rocks.profiles import profile_service

    source = cluster_source(ctx) if args["bundled"] else None
    return profile_service(session_if_any(ctx, args), source,
                           options_from(args, provenance=provenance))


def read_attrs_file(path: str) -> dict[str, str]:
    """attrs=file.json: a JSON object of attribute names to values (numbers/booleans allowed)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise RocksError.of("io", f"cannot read attrs file: {exc.strerror}",
                            SourceLocation(path)) from None
    except json.JSONDecodeError as exc:
        raise RocksError.of("attrs-file", f"not JSON: {exc.msg}",
                            SourceLocation(path, exc.lineno)) from None
    if not isinstance(data, dict):
        raise RocksError.of("attrs-file", "expected a JSON object of name: value",
                            SourceLocation(path, 1))
    out = {}
    for k, v in data.items():
        if isinstance(v, bool):
            v = "yes" if v else "no"
        elif v is None:
            continue
        out[str(k)] = str(v)
    return out


def report_warnings(ctx: Context, diagnostics: Any) -> None:
    ctx.report(d for d in diagnostics if d.severity == "warning")
