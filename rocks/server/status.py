"""Install status of hosts: the stage each is in, since when, and whether it has stalled.

Shared by the server (from its in-memory board) and `rocks list host install` (from the
database): a host's stage is its newest event's, unless that event predates the current install
(then it is "waiting"); an install with no event for `stall_after` seconds is "stalled".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.inventory.schema import ApplianceRow, HostRow, InstallEventRow

# "up" comes from an installed system at each boot (base roll, report-up node), not from an
# installer: it needs no token, the node is known by its source address.
STAGES = ("fetched-kickstart", "pre", "packages", "post", "finished", "failed", "up")
WAITING = "waiting"
STALLED = "stalled"
DONE = frozenset({"finished", "failed"})


@dataclass(frozen=True, slots=True)
class LastEvent:
    time: datetime
    stage: str
    message: str


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
) -> tuple[str, datetime | None, str]:
    """(stage, since, message) of one host."""
    since: datetime | None
    current = last is not None and (install_started is None or last.time >= install_started)
    if last is not None and (current or boot != "install"):
        stage, since, message = last.stage, last.time, last.message
    elif boot == "install":
        stage, since, message = WAITING, install_started, ""
    else:
        return "", None, ""
    if (boot == "install" and stage not in DONE and since is not None
            and (now - since).total_seconds() > stall_after):
        stage = STALLED
    return stage, since, message


def last_events(session: Session, host_ids: Iterable[int] | None = None) -> dict[int, LastEvent]:
    """The newest event of each host, by host id."""
    newest = select(func.max(InstallEventRow.id)).group_by(InstallEventRow.host_id)
    if host_ids is not None:
        newest = newest.where(InstallEventRow.host_id.in_(list(host_ids)))
    rows = session.execute(
        select(InstallEventRow.host_id, InstallEventRow.time, InstallEventRow.stage,
               InstallEventRow.message).where(InstallEventRow.id.in_(newest))
    )
    return {hid: LastEvent(t, st, msg) for hid, t, st, msg in rows}


def install_status(
    session: Session,
    hosts: Iterable[str] | None = None,
    *,
    stall_after: float = 1800.0,
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
