"""Changing many hosts at once: boot state (install / os / stateless) and host fields, one
statement per table whatever the number of hosts.

`set host boot` on 5,000 hosts used to load, change and re-read each host through the ORM
(three round trips a host); here the hosts are named once, and each table gets one statement
(an `IN` list, or one executemany when every row gets its own value, as install tokens do).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from rocks.inventory.lookup import unknown
from rocks.inventory.schema import HostRow
from rocks.model.inventory import BootChoice, BootState

_HOSTS = cast(Table, HostRow.__table__)
# Bound parameters per IN list: far below SQLite's 32,766 and PostgreSQL's 65,535.
_CHUNK = 10_000


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def host_ids(session: Session, names: Sequence[str]) -> dict[str, int]:
    """Host name → id for every name (an unknown name is an error)."""
    found: dict[str, int] = {}
    for part in _chunks(list(names)):
        found.update((name, hid) for name, hid in session.execute(
            select(HostRow.name, HostRow.id).where(HostRow.name.in_(part))))
    missing = [n for n in names if n not in found]
    if missing:
        raise unknown("host", ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
    return found


def set_boot(session: Session, names: Sequence[str], action: BootState | BootChoice | str, *,
             now: datetime | None = None) -> dict[str, str]:
    """Set the hosts' boot action. install: each host gets a fresh one-time token (returned by
    host); os: tokens are spent; stateless: boot state os with run action `stateless`, each
    host a fresh token (rocks.inventory.core's, on the session's connection)."""
    from rocks.inventory import core

    tokens = core.set_boot(core.Db.of(session), names, action, now=now)
    session.expire_all()
    return tokens


def update_hosts(session: Session, names: Sequence[str], **values: Any) -> int:
    """Set the same column values (rack=, rank=, comment=, install_action=, …) on every named
    host in one statement per chunk of names; returns the number of hosts."""
    if not values:
        return 0
    ids = list(host_ids(session, names).values())
    table = _HOSTS
    session.flush()
    for part in _chunks(ids):
        session.execute(update(table).where(table.c.id.in_(part)).values(**values))
    session.expire_all()
    return len(ids)


def remove_hosts(session: Session, names: Sequence[str]) -> int:
    """Remove the named hosts in one DELETE per chunk of names; their interfaces, attributes,
    events, profiles and status go with them (foreign keys cascade)."""
    from sqlalchemy import delete

    ids = list(host_ids(session, names).values())
    table = _HOSTS
    session.flush()
    for part in _chunks(ids):
        session.execute(delete(table).where(table.c.id.in_(part)))
    session.expire_all()
    return len(ids)
