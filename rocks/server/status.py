"""Install status of hosts: the stage each is in, since when, and whether it has stalled.

Shared by the server (from its in-memory board) and `rocks list host install` (from the
database): a host's stage is its newest event's, unless that event predates the current install
(then it is "waiting"); an install with no sign of life — no event and, on the server, no
package fetch — for `stall_after` seconds (default STALL_AFTER) is "stalled".
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.inventory.schema import ApplianceRow, HostRow, InstallEventRow

# "up": an installed system reporting that it booted (a heartbeat; no token, the node is known
# by its source address) — not an install stage.
STAGES = ("fetched-kickstart", "pre", "packages", "post", "finished", "failed", "up")
WAITING = "waiting"
STALLED = "stalled"
DONE = frozenset({"finished", "failed", "up"})
STALL_AFTER = 300.0  # seconds of silence before an install is stalled (stall-after=)


@dataclass(frozen=True, slots=True)
class LastEvent:
    time: datetime
    stage: str
    message: str
    source: str = ""  # the node's address, or "frontend" for what the server recorded
    frontend: str = ""  # the frontend that stored it (several may share the inventory)


@dataclass(frozen=True, slots=True)
class InstallStatus:
    host: str
    appliance: str
    boot: str
    stage: str  # an event stage, "waiting", "stalled", or "" (never installed)
    since: datetime | None
    message: str


def classify(
    boot: str,
    install_started: datetime | None,
    last: LastEvent | None,
    now: datetime,
    stall_after: float,
    active: datetime | None = None,
) -> tuple[str, datetime | None, str]:
    """(stage, since, message) of one host. `active`: the node's last sign of life besides
    its events (a package fetch), which also keeps an install from being stalled."""
    since: datetime | None
    current = last is not None and (install_started is None or last.time >= install_started)
    if last is not None and (current or boot != "install"):
        stage, since, message = last.stage, last.time, last.message
    elif boot == "install":
        stage, since, message = WAITING, install_started, ""
    else:
        return "", None, ""
    quiet_since = since if active is None or since is None or active < since else active
    if (boot == "install" and stage not in DONE and quiet_since is not None
            and (now - quiet_since).total_seconds() > stall_after):
        stage = STALLED
    return stage, since, message


def last_events(session: Session, host_ids: Iterable[int] | None = None) -> dict[int, LastEvent]:
    """The newest event of each host, by host id."""
    newest = select(func.max(InstallEventRow.id)).group_by(InstallEventRow.host_id)
    if host_ids is not None:
        newest = newest.where(InstallEventRow.host_id.in_(list(host_ids)))
    rows = session.execute(
        select(InstallEventRow.host_id, InstallEventRow.time, InstallEventRow.stage,
               InstallEventRow.message, InstallEventRow.source, InstallEventRow.frontend)
        .where(InstallEventRow.id.in_(newest))
    )
    return {hid: LastEvent(t, st, msg, src, fe or "") for hid, t, st, msg, src, fe in rows}


def events_after(session: Session, after: int) -> tuple[int, dict[int, LastEvent]]:
    """Events stored since event id `after` (by any process): the newest id and each host's
    newest of them."""
    rows = session.execute(
        select(InstallEventRow.id, InstallEventRow.host_id, InstallEventRow.time,
               InstallEventRow.stage, InstallEventRow.message, InstallEventRow.source,
               InstallEventRow.frontend)
        .where(InstallEventRow.id > after).order_by(InstallEventRow.id)).all()
    newest = {hid: LastEvent(t, st, msg, src, fe or "")
              for _, hid, t, st, msg, src, fe in rows}
    return (rows[-1][0] if rows else after), newest


def last_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(InstallEventRow.id))) or 0)


@dataclass(frozen=True, slots=True)
class Probe:
    """What `rocks list host status` (or `run host`) last recorded about a running host."""

    state: str
    since: datetime
    checked: datetime
    source: str


def probes_after(session: Session, after: datetime | None
                 ) -> tuple[datetime | None, dict[int, Probe]]:
    """host_status rows checked after `after`: the newest check time and the rows by host id."""
    from rocks.inventory.schema import HostStatusRow

    q = select(HostStatusRow.host_id, HostStatusRow.state, HostStatusRow.since,
               HostStatusRow.checked, HostStatusRow.source)
    if after is not None:
        q = q.where(HostStatusRow.checked > after)
    found = {hid: Probe(state, since, checked, source)
             for hid, state, since, checked, source in session.execute(q)}
    newest = max((p.checked for p in found.values()), default=after)
    return newest, found


def install_status(
    session: Session,
    hosts: Iterable[str] | None = None,
    *,
    stall_after: float = STALL_AFTER,
    now: datetime | None = None,
) -> list[InstallStatus]:
    """Every host's (or the named hosts') install status, sorted by name."""
    now = now or datetime.now(UTC)
    q = select(HostRow.id, HostRow.name, ApplianceRow.name, HostRow.boot,
               HostRow.install_started).join(ApplianceRow, HostRow.appliance_id == ApplianceRow.id)
    if hosts is not None:
        q = q.where(HostRow.name.in_(list(hosts)))
    rows = session.execute(q.order_by(HostRow.name)).all()
    last = last_events(session, [r[0] for r in rows] if hosts is not None else None)
    out = []
    for hid, name, appliance, boot, started in rows:
        stage, since, message = classify(boot, started, last.get(hid), now, stall_after)
        out.append(InstallStatus(name, appliance, boot, stage, since, message))
    return out


def format_age(seconds: float) -> str:
    """A short duration: 45s, 12m05s, 3h20m, 2d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


_UNPRINTABLE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def printable(text: str) -> str:
    """`text` with control, format and line-separator characters written as escapes
    (`\\x1b`, `\\u202e`): what a node sends is shown on terminals and pages, never obeyed by
    them. Plain text passes unchanged."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (ch == " ") or unicodedata.category(ch) not in _UNPRINTABLE:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)
