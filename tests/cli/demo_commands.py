"""Demonstration commands for the CLI framework's tests (not in the registry, never shipped as
real commands). They show each way to declare parameters and each kind of result.
"""

from __future__ import annotations

import enum

from rocks.commands import Args, Context, Result, Rows, Text, command, keyword, positional
from rocks.errors import Diagnostic, RocksError, SourceLocation

_HOSTS = (
    {"host": "compute-0-0", "membership": "compute", "cpus": 2, "rack": 0, "managed": True},
    {"host": "compute-0-1", "membership": "compute", "cpus": 16, "rack": 0, "managed": True},
    {"host": "nas-1-0", "membership": "nas", "cpus": 8, "rack": 1, "managed": False,
     "comment": "has, a comma"},
)  # fmt: skip


class Release(enum.StrEnum):
    EL9 = "el9"
    EL10 = "el10"


def size(text: str) -> int:
    """A size like 512M or 20G, in MiB."""
    units = {"M": 1, "G": 1024, "T": 1024 * 1024}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f'"{text}" is not a size like 512M or 20G')
    return int(text[:-1]) * units[text[-1]]


@command(
    positional("host", many=True, default=(), help="host names (all hosts when none)"),
    keyword("rack", int, default=None, help="only hosts in this rack"),
    tabular=True,
    examples=("rocks demo list host", "rocks demo list host rack=1 output-format=json"),
)
def list_host(ctx: Context, args: Args) -> Rows:
    """List the demo hosts."""
    hosts = [
        h
        for h in _HOSTS
        if (not args["host"] or h["host"] in args["host"])
        and (args["rack"] is None or h["rack"] == args["rack"])
    ]
    return Rows.from_dicts(hosts, ("host", "membership", "cpus", "rack", "managed", "comment"))


@command(positional("host", many=True, default=()), tabular=True)
def list_host_attr(ctx: Context, args: Args) -> Rows:
    """List attributes from the "attrs" service (a mapping host -> {attr: value})."""
    attrs = ctx.service("attrs")
    return Rows(
        ("host", "attr", "value"),
        (
            (host, key, value)
            for host in sorted(attrs)
            if not args["host"] or host in args["host"]
            for key, value in sorted(attrs[host].items())
        ),
    )


@command(
    positional("host", many=True, help="hosts to change"),
    keyword("attr", positional_ok=True, help="attribute name"),
    keyword("value", positional_ok=True, help="its value"),
    keyword("force", bool, default=False, help="replace an existing value"),
    examples=("rocks demo set host attr compute-0-0 cpus 2",),
)
def set_host_attr(ctx: Context, args: Args) -> Text:
    """Set an attribute on each host named (prints what it would set)."""
    return Text(
        "".join(
            f"{h}: {args['attr']}={args['value']} force={args['force']}\n" for h in args["host"]
        )
    )


@command(
    positional("host"),
    keyword("release", Release, default=Release.EL9, help="target release"),
)
def report_kickstart(ctx: Context, args: Args) -> Text:
    """Print a (fake) kickstart, exactly as is."""
    return Text(f"# kickstart for {args['host']} ({args['release']})\n%packages\n%end")


@command(
    keyword("count", int, default=1),
    keyword("ratio", float, default=0.5),
    keyword("flag", bool, default=False),
    keyword("disk", size, default=None, metavar="<size>", help="disk size"),
    keyword("text", default=""),
)
def echo(ctx: Context, args: Args) -> Text:
    """Print the bound arguments, one `name=repr` per line."""
    return Text("".join(f"{k}={v!r}\n" for k, v in sorted(args.items())))


@command(keyword("how", choices=("rocks", "internal", "interrupt", "rows"), positional_ok=True))
def fail(ctx: Context, args: Args) -> Result:
    """Warn, then fail in the way asked."""
    ctx.warn("about to fail", "as requested")
    how = args["how"]
    if how == "rocks":
        where = SourceLocation("graph/nodes/demo.xml", 12)
        raise RocksError(
            Diagnostic("demo-failed", "the demo failed", where, "it was asked to"),
            Diagnostic("demo-again", "and failed again"),
        )
    if how == "interrupt":
        raise KeyboardInterrupt
    if how == "rows":
        return [("not", "rows")]  # type: ignore[return-value]  # wrong on purpose
    raise RuntimeError("boom")
