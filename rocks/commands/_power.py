"""Hosts' BMCs from the inventory, and running power requests on them with the grouped report
that `rocks run host` also prints. Shared by the power commands and `set host boot reboot=yes`.

The BMC is the host's interface marked bmc=ipmi|redfish; its credentials and settings are
attributes (any scope): bmc_username, bmc_password (secret), bmc_port, bmc_scheme (Redfish:
https|http), bmc_verify (Redfish TLS: yes|no|CA bundle path), bmc_system (Redfish system id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rocks.commands import Context, keyword
from rocks.errors import RocksError

if TYPE_CHECKING:
    from rocks.inventory.db import Session
    from rocks.model.inventory import Interface, ResolvedAttributes
    from rocks.power.model import Action, Bmc, NextBoot, PowerResult

TIMEOUT = keyword("timeout", float, default=30.0, metavar="SECONDS",
                  help="give up on a BMC after this long")
THREADS = keyword("num-threads", int, default=64,
                  help="how many BMCs to talk to at once (IPMI: at most 128)")
_YES = ("yes", "true", "on", "1", "y")
_NO = ("no", "false", "off", "0", "n")


def check_limits(args: dict[str, Any]) -> None:
    if args["timeout"] <= 0:
        raise RocksError.of("bad-timeout", "timeout must be more than 0 seconds")
    if args["num-threads"] < 1:
        raise RocksError.of("bad-num-threads", "num-threads must be at least 1")


def _verify(value: str) -> bool | str:
    low = value.strip().lower()
    if low in _YES or not low:
        return True
    if low in _NO:
        return False
    return value.strip()  # a CA bundle


def bmc_of(host: str, ifaces: Sequence[Interface], attrs: ResolvedAttributes) -> Bmc:
    """The host's BMC target; RocksError (code no-bmc) when the inventory cannot say."""
    from rocks.power.model import Bmc, Protocol

    if not ifaces:
        raise RocksError.of("no-bmc", "no interface marked as its BMC",
                            hint=f"rocks add host interface {host} ipmi ip=… mac=… "
                                 "network=… bmc=ipmi")
    if len(ifaces) > 1:
        raise RocksError.of("no-bmc", "several interfaces marked as its BMC: "
                            + ", ".join(i.device for i in ifaces))
    iface = ifaces[0]
    if not iface.ip:
        raise RocksError.of("no-bmc", f"its BMC interface {iface.device} has no address",
                            hint=f"rocks set host interface ip {host} {iface.device} …")
    values = attrs.values
    port_text = values.get("bmc_port", "").strip()
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RocksError.of("no-bmc", f"bmc_port {port_text!r} is not a port number")
        port = int(port_text)
    scheme = values.get("bmc_scheme", "").strip().lower() or "https"
    if scheme not in ("https", "http"):
        raise RocksError.of("no-bmc", f"bmc_scheme {scheme!r} is not https or http")
    return Bmc(host, Protocol(iface.bmc), iface.ip, values.get("bmc_username", ""),
               values.get("bmc_password", ""), port, scheme,
               _verify(values.get("bmc_verify", "")), values.get("bmc_system", "").strip())


def bmc_targets(s: Session, names: Sequence[str]) -> tuple[list[Bmc], list[PowerResult]]:
    """(BMCs to talk to, results of hosts that have none usable), both in host order."""
    from rocks.inventory import queries as q
    from rocks.inventory.hosts import bmc_interfaces
    from rocks.power.model import Outcome, PowerResult

    if not names:
        return [], []
    wanted = None if len(names) > 500 else names
    attrs = q.resolve_attrs_many(s, wanted)
    by_host: dict[str, list[Interface]] = {}
    for iface in bmc_interfaces(s, wanted):
        by_host.setdefault(iface.host, []).append(iface)
    bmcs: list[Bmc] = []
    missing: list[PowerResult] = []
    for name in names:
        try:
            bmcs.append(bmc_of(name, by_host.get(name, []), attrs[name]))
        except RocksError as exc:
            d = exc.first
            missing.append(PowerResult(name, Outcome.NO_BMC, detail=d.message
                                       + (f" (hint: {d.hint})" if d.hint else "")))
    return bmcs, missing


# Each IPMI request in flight has a worker process of its own (rocks.power.ipmiproc, about
# 2.5 MB each beyond what they share); past this many, more workers only cost memory and CPU
# (bench/power.py, 440 BMCs: 32 workers 2.9 s, 128 workers 3.8 s), so IPMI fan-out stops here.
IPMI_MAX_PARALLEL = 128


def run(bmcs: list[Bmc], missing: list[PowerResult], action: Action,
        next_boot: NextBoot | None, args: dict[str, Any]) -> list[PowerResult]:
    from rocks.power.fanout import run_power
    from rocks.power.model import Protocol

    parallel = args["num-threads"]
    if any(b.protocol is Protocol.IPMI for b in bmcs):
        parallel = min(parallel, IPMI_MAX_PARALLEL)
    done = run_power(bmcs, action, next_boot, parallel=parallel, timeout=args["timeout"])
    return missing + done


def finish(ctx: Context, results: list[PowerResult], *, show: bool = True) -> None:
    """Groups on stdout, failures and the summary on stderr; exit 2 unless all succeeded."""
    from rocks.power.report import grouped, problems, summary

    if show:
        ctx.stdout.write(grouped(results))
    for line in problems(results):
        ctx.stderr.write(line + "\n")
    ctx.stderr.write(summary(results) + "\n")
    bad = [r for r in results if not r.ok]
    if bad:
        raise RocksError.of("power-failed", f"{len(bad)} of {len(results)} hosts did not succeed")
