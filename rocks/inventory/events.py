"""What happened to hosts: install progress events and the profile each host was last given."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rocks.inventory.lookup import host_id
from rocks.inventory.schema import HostProfileRow, HostRow, InstallEventRow
from rocks.model.inventory import HostProfile, InstallEvent


def _now(time: datetime | None) -> datetime:
    if time is None:
        return datetime.now(UTC)
    if time.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return time.astimezone(UTC)


def add_event(
    session: Session,
    host: str,
    stage: str,
    message: str = "",
    source: str = "",
    time: datetime | None = None,
) -> InstallEvent:
    """Record an install event for `host` (time defaults to now, UTC)."""
    when = _now(time)
    session.add(
        InstallEventRow(
            host_id=host_id(session, host), time=when, stage=stage, message=message, source=source
        )
    )
    session.flush()
    return InstallEvent(host, when, stage, message, source)


def list_events(
    session: Session, host: str | None = None, limit: int | None = None
) -> list[InstallEvent]:
    """Events oldest first; with `limit`, only the newest `limit` of them."""
    query = select(InstallEventRow, HostRow.name).join(
        HostRow, InstallEventRow.host_id == HostRow.id
    )
    if host is not None:
        query = query.where(InstallEventRow.host_id == host_id(session, host))
    query = query.order_by(InstallEventRow.time.desc(), InstallEventRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    return [InstallEvent(name, r.time, r.stage, r.message, r.source, r.frontend or "")
            for r, name in reversed(rows)]


def set_profile(
    session: Session, host: str, text: str, time: datetime | None = None
) -> HostProfile:
    """Remember `text` as the profile `host` was given (replacing the previous one)."""
    hid = host_id(session, host)
    digest = hashlib.sha256(text.encode()).hexdigest()
    when = _now(time)
    row = session.get(HostProfileRow, hid)
    if row is None:
        session.add(HostProfileRow(host_id=hid, hash=digest, text=text, time=when))
    else:
        row.hash, row.text, row.time = digest, text, when
    session.flush()
    return HostProfile(host, digest, text, when)


def get_profile(session: Session, host: str) -> HostProfile | None:
    row = session.get(HostProfileRow, host_id(session, host))
    return None if row is None else HostProfile(host, row.hash, row.text, row.time)
