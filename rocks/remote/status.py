"""A node's state at a glance (up, down, installing, stalled, unknown), since when, and how it
was learnt: install events first, then a reachability probe, else the last recorded observation.

`decide` is pure; `load_facts` and `record` read and write the inventory (table host_status).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.inventory.schema import HostRow, HostStatusRow, InstallEventRow

if TYPE_CHECKING:
    from rocks.inventory import Inventory


class State(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    INSTALLING = "installing"
    STALLED = "stalled"
    UNKNOWN = "unknown"


class Source(enum.StrEnum):
    EVENTS = "install-events"
    PROBE = "probe"
    RUN = "run-host"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the inventory knows about one host."""

    host: str
    boot: str = "os"
    install_started: datetime | None = None
    last_event: datetime | None = None  # newest install event at or after install_started
    last_stage: str = ""
    recorded: State | None = None  # host_status row
    recorded_since: datetime | None = None
    recorded_source: str = ""
    last_run: datetime | None = None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    host: str
    state: State
    since: datetime | None
    source: str


def decide(facts: Facts, probed: bool | None, now: datetime, stall_after: float) -> NodeStatus:
    """The state of one host. `probed` is the probe's verdict (None: not probed / no address).

    An install under way (boot action install, with events since it began, or no answer yet)
    is installing until `stall_after` seconds pass without an event, then stalled; a failed
    install is stalled at once. Otherwise the probe decides, else the last observation.
    """
    installing = facts.boot == "install" and facts.install_started is not None
    if installing and facts.install_started is not None:
        if facts.last_event is not None and facts.last_stage != "finished":
            quiet = (now - facts.last_event).total_seconds()
            if facts.last_stage == "failed" or quiet > stall_after:
                return NodeStatus(facts.host, State.STALLED, facts.last_event, Source.EVENTS)
            return NodeStatus(facts.host, State.INSTALLING, facts.install_started, Source.EVENTS)
        if facts.last_event is None and probed is not True:
            # Install requested, the node is not answering: it is (re)booting into the installer.
            quiet = (now - facts.install_started).total_seconds()
            state = State.STALLED if quiet > stall_after else State.INSTALLING
            return NodeStatus(facts.host, state, facts.install_started, Source.EVENTS)
    if (probed is None and facts.last_stage == "up" and facts.last_event is not None
            and (facts.recorded_since is None or facts.last_event >= facts.recorded_since)):
        # the node said so itself at its last boot (install event stage "up")
        return NodeStatus(facts.host, State.UP, facts.last_event, Source.EVENTS)
    if probed is not None:
        state = State.UP if probed else State.DOWN
        since = facts.recorded_since if facts.recorded is state else now
        return NodeStatus(facts.host, state, since, Source.PROBE)
    if facts.recorded is not None:
        return NodeStatus(facts.host, facts.recorded, facts.recorded_since, facts.recorded_source)
    return NodeStatus(facts.host, State.UNKNOWN, None, Source.NONE)


def load_facts(session: Session, hosts: Iterable[str]) -> dict[str, Facts]:
    names = list(hosts)
    rows = session.execute(
        select(HostRow.id, HostRow.name, HostRow.boot, HostRow.install_started,
               HostStatusRow.state, HostStatusRow.since, HostStatusRow.source,
               HostStatusRow.last_run)
        .outerjoin(HostStatusRow, HostStatusRow.host_id == HostRow.id)
        .where(HostRow.name.in_(names))
    ).all()
    # The newest event per host, then its stage (two small queries beat a window function
    # that SQLite and PostgreSQL spell alike only in recent versions).
    newest = dict(session.execute(
        select(InstallEventRow.host_id, func.max(InstallEventRow.time))
        .where(InstallEventRow.host_id.in_([r[0] for r in rows]))
        .group_by(InstallEventRow.host_id)
    ).all())
    stages: dict[int, str] = {}
    if newest:
        for hid, when, stage in session.execute(
            select(InstallEventRow.host_id, InstallEventRow.time, InstallEventRow.stage)
            .where(InstallEventRow.host_id.in_(list(newest)))
            .order_by(InstallEventRow.id)
        ):
            if when == newest[hid]:
                stages[hid] = stage
    out: dict[str, Facts] = {}
    for hid, name, boot, started, state, since, source, last_run in rows:
        last = newest.get(hid)
        if started is not None and last is not None and last < started:
            last = None  # events of an earlier install
        out[name] = Facts(
            name, boot, started, last, stages.get(hid, "") if last else "",
            State(state) if state else None, since, source or "", last_run,
        )
    return out


def record(session: Session, observed: Mapping[str, tuple[State, str]],
           now: datetime | None = None, ran: Iterable[str] = ()) -> None:
    """Remember each host's observed (state, source); `ran` hosts also get last_run = now."""
    now = now or datetime.now(UTC)
    ran = set(ran)
    ids = dict(session.execute(
        select(HostRow.name, HostRow.id).where(HostRow.name.in_(list(observed)))
    ).all())
    existing = {r.host_id: r for r in session.scalars(
        select(HostStatusRow).where(HostStatusRow.host_id.in_(list(ids.values()))))}
    for name, (state, source) in observed.items():
        hid = ids.get(name)
        if hid is None:
            continue  # removed meanwhile
        row = existing.get(hid)
        if row is None:
            row = HostStatusRow(host_id=hid, state=state.value, since=now, checked=now,
                                source=source)
            session.add(row)
        else:
            if row.state != state.value:
                row.state, row.since = state.value, now
            row.checked, row.source = now, source
        if name in ran:
            row.last_run = now
    session.flush()


def address_of(values: Mapping[str, str]) -> tuple[str, int] | None:
    """Where a host's sshd is: attribute ssh_address (else its install address) and ssh_port.
    Raises ValueError for a non-numeric ssh_port."""
    address = values.get("ssh_address") or values.get("hostaddr") or ""
    return (address, int(values.get("ssh_port") or 22)) if address else None


def statuses(inv: Inventory, names: Iterable[str] | None = None, *, probe: bool = False,
             timeout: float = 2.0, parallel: int = 512, stall_after: float = 300.0
             ) -> list[NodeStatus]:
    """Every named host's status (all hosts when `names` is None); with `probe`, asking their
    sshd for its banner outside any transaction and recording what the probe saw. For the CLI
    and the dashboard."""
    from rocks.inventory import queries as q
    from rocks.remote.probe import probe as probe_endpoints

    with inv.transaction(readonly=True) as s:
        attrs = q.resolve_attrs_many(s, names)
        hosts = sorted(attrs)
        facts = load_facts(s, hosts)
    verdicts: dict[str, bool] = {}
    if probe:
        where = {}
        for n in hosts:
            try:
                endpoint = address_of(attrs[n].values)
            except ValueError:
                endpoint = None  # a bad ssh_port: unknown rather than failing the listing
            if endpoint is not None:
                where[n] = endpoint
        # up means sshd answers: its banner, not merely an open port
        found = probe_endpoints(where.values(), timeout, parallel)
        verdicts = {n: found[e].up for n, e in where.items()}
    now = datetime.now(UTC)
    out = [decide(facts[n], verdicts.get(n), now, stall_after) for n in hosts]
    if verdicts:
        with inv.transaction() as s:
            record(s, {n: (State.UP if up else State.DOWN, Source.PROBE.value)
                       for n, up in verdicts.items()}, now)
    return out

