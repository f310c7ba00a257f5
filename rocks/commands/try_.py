"""`rocks try appliance` and `rocks try host`: a profile's packages installed into a directory and
its %post scripts run there, each reported with the node file and line it came from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, Result, Text, command, keyword, positional
from rocks.commands._inventory import cluster_service, distro_dir, session

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rocks.model.profile import Profile


def _positive(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


_PARAMS = (
    keyword("root", help="directory to install into (created; reuse it to try again faster)"),
    keyword("timeout", _positive, default=120.0, metavar="seconds",
            help="longest one %post script may run"),
)


def _try(ctx: Context, profile: Profile, values: Mapping[str, str], args: dict[str, Any]
         ) -> Result:
    from rocks.errors import Diagnostic, RocksError, SourceLocation
    from rocks.tryout import report_table, try_profile

    result = try_profile(profile, values, Path(args["root"]), distro_dir(ctx),
                         script_timeout=args["timeout"])
    table = report_table(result)
    if not result.failed:
        return Text(table)
    ctx.stdout.write(table)
    raise RocksError(*(Diagnostic(
        "try-post-failed", f"%post script {r.index} of {len(result.scripts)}: {r.label}",
        SourceLocation(r.origin.where, r.origin.line, r.origin.roll),
        "its output is above; fix the node file and try again") for r in result.failed))


@command(positional("appliance", help="appliance name"), *_PARAMS,
         examples=("rocks try appliance compute root=/tmp/try-compute",))
def try_appliance(ctx: Context, args: dict[str, Any]) -> Result:
    """Install an appliance's packages into root= and run its %post scripts there.

    Packages come from the distribution (rocks create distro) through dnf; each %post runs
    chrooted in root= with its own interpreter and is listed with its node file, line and exit
    status. Attribute values are the appliance's defaults. Needs root.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    app = q.get_appliance(s, args["appliance"])
    svc = cluster_service(ctx)
    attrs = svc.preview(app.name, s)
    compiled = svc.compiler.compile(app.node, attrs)
    return _try(ctx, compiled.profile, attrs, args)


@command(positional("host", help="host name"), *_PARAMS,
         examples=("rocks try host compute-0-0 root=/tmp/try-c00",))
def try_host(ctx: Context, args: dict[str, Any]) -> Result:
    """Install a host's packages into root= and run its %post scripts there.

    As `rocks try appliance`, with the host's own attribute values. Needs root.
    """
    from rocks.inventory import queries as q

    s = session(ctx)
    name = args["host"]
    svc = cluster_service(ctx)
    view = svc.view(q.resolve_attrs_many(s, [name])[name])
    compiled = svc.compiled(view)
    return _try(ctx, compiled.profile, view.attrs, args)
