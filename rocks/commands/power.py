"""Out-of-band power and console through the nodes' BMCs: `set host power`, `list host power`,
`open host console` and `start console-logger`. The work lives in `rocks.power`; hosts, BMC
interfaces and credentials come from the inventory in one short read (no transaction is held
while BMCs are talked to). Credentials never appear in output, errors or logs.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from rocks.commands import Context, Result, Rows, command, keyword, positional
from rocks.commands._power import THREADS, TIMEOUT, bmc_targets, check_limits, finish, run
from rocks.errors import RocksError

HOSTS = positional("hosts", many=True, metavar="HOST",
                   help="host names, appliance names, rackN or globs")
SOME_HOSTS = positional("hosts", many=True, default=(), metavar="HOST",
                        help="host names, appliance names, rackN or globs (none: all hosts)")


def _read_targets(ctx: Context, words: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._inventory import open_session_factory

    with open_session_factory(ctx)(readonly=True) as s:
        return bmc_targets(s, expand_hosts(s, words))


@command(
    HOSTS,
    keyword("action", positional_ok=True, choices=("on", "off", "cycle", "reset", "status"),
            help="on, off, cycle (off then on), reset (hard reset), status"),
    keyword("next-boot", default=None, choices=("pxe", "disk"),
            help="boot device for the next boot only, set before the action"),
    TIMEOUT, THREADS,
    examples=("rocks set host power compute-0-0 action=status",
              "rocks set host power rack3 action=cycle next-boot=pxe",
              "rocks set host power compute action=off num-threads=128 timeout=20"),
)
def set_host_power(ctx: Context, args: dict[str, Any]) -> Result:
    """Switch hosts on or off, power-cycle or reset them, or ask their state, through their
    BMCs (IPMI with pyghmi, Redfish with sushy).

    num-threads BMCs are talked to at once, each given timeout seconds. Results are grouped
    like `rocks run host` (identical results once, under the list of their hosts); a line per
    failed host (no BMC in the inventory, credentials refused, unreachable, timed out, refused
    by the BMC) and a summary end on stderr. Exit status 2 unless every host succeeded.
    """
    from rocks.power.model import Action, NextBoot

    check_limits(args)
    bmcs, missing = _read_targets(ctx, tuple(args["hosts"]))
    nb = NextBoot(args["next-boot"]) if args["next-boot"] else None
    finish(ctx, run(bmcs, missing, Action(args["action"]), nb, args))
    return None


@command(SOME_HOSTS, TIMEOUT, THREADS, tabular=True,
         examples=("rocks list host power", "rocks list host power rack3 timeout=5"))
def list_host_power(ctx: Context, args: dict[str, Any]) -> Result:
    """Ask every host's BMC for its power state now: on, off, or why it could not be told.

    BMC shows the protocol and address asked; a host without a usable BMC, or whose BMC did
    not answer, shows state `-` and the reason.
    """
    from rocks.power.model import Action

    check_limits(args)
    bmcs, missing = _read_targets(ctx, tuple(args["hosts"]))
    where = {b.host: b.endpoint for b in bmcs}
    results = run(bmcs, missing, Action.STATUS, None, args)
    from rocks.remote.hostlist import natural_key

    return Rows(("host", "state", "bmc", "problem"), (
        (r.host, r.state or None, where.get(r.host), None if r.ok else f"{r.outcome}: {r.detail}")
        for r in sorted(results, key=lambda r: natural_key(r.host))))


@command(
    positional("host", help="one host name"),
    keyword("duration", float, default=None, metavar="SECONDS",
            help="end after this long (for scripts; default: until ~. or end of input)"),
    keyword("log", default="", metavar="FILE", help="also append what the node prints to FILE"),
    keyword("force", bool, default=False,
            help="take the console over from another session that holds it"),
    keyword("timeout", float, default=15.0, metavar="SECONDS",
            help="give up connecting after this long"),
    examples=("rocks open host console compute-0-0",
              "rocks open host console compute-0-0 duration=60 log=/tmp/c0.log < /dev/null"),
)
def open_host_console(ctx: Context, args: dict[str, Any]) -> Result:
    """Open a host's serial console through its BMC (IPMI Serial-over-LAN; for a Redfish BMC,
    the SOL its Manager offers).

    On a terminal: keys go to the node; at the start of a line `~.` ends the session, `~B`
    sends a break, `~?` lists these. Without a terminal (or with duration=), what the node
    prints is written to standard output until duration= seconds pass or input ends.
    """
    from rocks.power.console import Session, attach, capture, raw_terminal, sol_endpoint
    from rocks.power.model import PowerError

    host = args["host"]
    bmcs, missing = _read_targets(ctx, (host,))
    if len(bmcs) + len(missing) != 1:
        raise RocksError.of("one-host", f'"{host}" names several hosts; give one host name')
    if missing:
        raise RocksError.of("no-bmc", f"{host}: {missing[0].detail}")
    out = getattr(ctx.stdout, "buffer", None)
    log = open(args["log"], "ab") if args["log"] else None  # noqa: SIM115 - closed below

    def sink(data: bytes) -> None:
        if out is not None:
            out.write(data)
            out.flush()
        else:
            ctx.stdout.write(data.decode("utf-8", "replace"))
            ctx.stdout.flush()
        if log is not None:
            log.write(data)
            log.flush()

    try:
        bmc = sol_endpoint(bmcs[0], args["timeout"])
        session = Session(bmc, sink, force=args["force"])
        session.open()
    except PowerError as exc:
        if log is not None:
            log.close()
        hint = ("force=yes takes it over (rocks start console-logger may be holding it)"
                if "another client" in exc.detail else "")
        raise RocksError.of("console-failed", f"{host}: {exc.outcome}: "
                            f"{bmcs[0].scrub(exc.detail)}", hint=hint) from None
    stdin: Any = getattr(ctx.stdin, "buffer", ctx.stdin)
    interactive = args["duration"] is None and _isatty(stdin)
    restore = None
    try:
        if interactive:
            ctx.stderr.write(f"[connected to {host}'s console; ~. ends, ~? for help]\r\n")
            ctx.stderr.flush()
            restore = raw_terminal(stdin.fileno())
            why = attach(session, stdin)
        elif args["duration"] is not None and not _readable(stdin):
            capture(session, args["duration"])
            why = "duration"
        else:
            why = attach(session, stdin, args["duration"])
    finally:
        if restore is not None:
            restore()
        session.close()
        if log is not None:
            log.close()
    if why == "broken":
        raise RocksError.of("console-lost", f"{host}: console lost: "
                            f"{bmc.scrub(session.errors[0])}")
    if interactive:
        ctx.stderr.write(f"\r\n[{host}'s console closed]\n")
    return None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _readable(stream: Any) -> bool:
    """Whether `stream` is a real file descriptor worth reading keys from."""
    try:
        stream.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    return True


@command(
    SOME_HOSTS,
    keyword("installing", bool, default=True,
            help="follow only hosts whose boot action is install (no: every host given)"),
    keyword("interval", float, default=5.0, metavar="SECONDS",
            help="how often the inventory is read again"),
    keyword("duration", float, default=None, metavar="SECONDS",
            help="stop after this long (default: until interrupted)"),
    examples=("rocks start console-logger", "rocks start console-logger rack3 installing=no"),
)
def start_console_logger(ctx: Context, args: dict[str, Any]) -> Result:
    """Log installing nodes' serial consoles to <state>/console/<host>.log, through their BMCs,
    until interrupted.

    Every interval seconds the inventory is read again: a host whose boot action becomes
    install gets a console session (taking it over from any other; one child process per
    host), and loses it once its install is over. A log keeps about its last MiB (the older
    half moves to <host>.log.1). The host page of the dashboard shows the end of the log.
    Credentials never reach a log.
    """
    from rocks.commands._hosts import expand_hosts
    from rocks.commands._inventory import open_session_factory, state_path
    from rocks.power.console import ConsoleLogger

    if args["interval"] <= 0:
        raise RocksError.of("bad-interval", "interval must be more than 0 seconds")
    words = tuple(args["hosts"])
    factory = open_session_factory(ctx)

    def report(message: str) -> None:
        ctx.stderr.write(message + "\n")
        ctx.stderr.flush()

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # close every session on the way out (the BMC frees it)

    signal.signal(signal.SIGTERM, stop)
    logger = ConsoleLogger(state_path(ctx) / "console", report=report)
    end = None if args["duration"] is None else time.monotonic() + args["duration"]
    try:
        while end is None or time.monotonic() < end:
            with factory(readonly=True) as s:
                names = expand_hosts(s, words)
                if args["installing"]:
                    from rocks.inventory import queries as q

                    installing = {h.name for h in q.list_hosts(s, names) if h.boot == "install"}
                    names = [n for n in names if n in installing]
                bmcs, _missing = bmc_targets(s, names)
            logger.update({b.host: b for b in bmcs})
            next_read = time.monotonic() + args["interval"]
            while time.monotonic() < next_read and (end is None or time.monotonic() < end):
                time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        logger.close()
    return None
