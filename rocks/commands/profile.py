"""Commands that compile hosts from the inventory: their kickstarts and traversals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rocks.commands import Context, Result, Rows, Text, command, keyword, positional
from rocks.commands._hosts import expand_hosts
from rocks.commands._inventory import cluster_service, session
from rocks.errors import RocksError
from rocks.resources import releases

RELEASE = keyword("release", default="el9", choices=releases(),
                  help="target release")


@command(
    positional("hosts", many=True, default=(), help="host names, appliances, rackN or globs"),
    keyword("provenance", bool, default=False,
            help="annotate each line with the roll, node file and line it came from"),
    keyword("dir", default="", help="write <dir>/<host>.ks for each host and list them"),
    RELEASE,
    examples=("rocks list host profile compute-0-0",
              "rocks list host profile compute-0-0 provenance=yes",
              "rocks list host profile compute dir=/tmp/ks"),
)
def list_host_profile(ctx: Context, args: dict[str, Any]) -> Result:
    """Print a host's kickstart, compiled from its attributes in the inventory.

    Hosts of one appliance with the same condition inputs share one compiled profile; each
    host's own values are spliced in. With several hosts, give dir= to write one file each.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    names = expand_hosts(s, args["hosts"], empty_means_all=False)
    if not names:
        raise RocksError.of("no-host", "name a host", hint="rocks list host profile <host>")
    if len(names) > 1 and not args["dir"]:
        raise RocksError.of(
            "many-hosts", f"{len(names)} hosts given; their kickstarts go to files",
            hint="add dir=DIR to write <DIR>/<host>.ks for each",
        )
    svc = cluster_service(ctx, release=args["release"], provenance=args["provenance"])
    resolved = q.resolve_attrs_many(s, names)
    if not args["dir"]:
        view = svc.view(resolved[names[0]])
        text = svc.render(view)
        ctx.report(d for d in svc.compiled(view).warnings if d.severity == "warning")
        return Text(text)
    out = Path(args["dir"])
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        t0 = time.perf_counter()
        text = svc.render(svc.view(resolved[name]))
        path = out / f"{name}.ks"
        path.write_text(text)
        rows.append((name, str(path), f"{(time.perf_counter() - t0) * 1000:.2f}"))
    ctx.stderr.write(f"{len(rows)} kickstarts from {svc.compiler.stats['misses']} compiled "
                     "profiles\n")
    return Rows(("host", "kickstart", "ms"), rows)


@command(positional("host", help="a host name"), RELEASE,
         examples=("rocks list host xml compute-0-0",))
def list_host_xml(ctx: Context, args: dict[str, Any]) -> Result:
    """Print the host's traversal: each node file in order, with the edge that brought it in."""
    from rocks.compiler.xmlout import traversal_xml
    from rocks.inventory import queries as q

    s = session(ctx)
    names = expand_hosts(s, [args["host"]], empty_means_all=False)
    svc = cluster_service(ctx, release=args["release"])
    view = svc.view(q.resolve_attrs(s, names[0]))
    return Text(traversal_xml(svc.graph, view.root, view.attrs, args["release"]))
