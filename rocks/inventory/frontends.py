"""The frontends sharing this inventory, and the distribution they serve.

`frontends`: one row per `rocks start frontend` (the head node and every service frontend) —
its name, where nodes reach it, when it started and was last seen, whether it stopped cleanly,
and the checksum of the distribution it serves. `distros`: the distribution the site installs
from, as the last `rocks create distro` built it (the sha256 of its repomd.xml and where it is
served), which service frontends mirror (rocks/packages/mirror.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rocks.inventory.schema import DistroRow, FrontendRow

DEFAULT_DISTRO = "default"
HEARTBEAT = 5.0  # seconds between a frontend's `last_seen` updates
STALE = 3 * HEARTBEAT  # not seen for this long: down


@dataclass(frozen=True, slots=True)
class FrontendInfo:
    name: str
    url: str
    started: datetime
    last_seen: datetime
    stopped: bool
    distro: str

    def state(self, now: datetime) -> str:
        if self.stopped:
            return "stopped"
        return "up" if (now - self.last_seen).total_seconds() <= STALE else "down"


@dataclass(frozen=True, slots=True)
class Distro:
    checksum: str
    url: str
    updated: datetime


def register(s: Session, name: str, url: str, distro: str) -> None:
    """This frontend is serving (its row created, or taken over by name)."""
    now = datetime.now(UTC)
    row = s.scalar(select(FrontendRow).where(FrontendRow.name == name))
    if row is None:
        s.add(FrontendRow(name=name, url=url, started=now, last_seen=now, stopped=False,
                          distro=distro))
    else:
        row.url, row.started, row.last_seen, row.stopped, row.distro = (url, now, now, False,
                                                                        distro)


def heartbeat(s: Session, name: str, distro: str, *, stopped: bool = False) -> None:
    s.execute(update(FrontendRow).where(FrontendRow.name == name).values(
        last_seen=datetime.now(UTC), distro=distro, stopped=stopped))


def list_frontends(s: Session) -> list[FrontendInfo]:
    return [FrontendInfo(r.name, r.url, r.started, r.last_seen, r.stopped, r.distro)
            for r in s.scalars(select(FrontendRow).order_by(FrontendRow.name))]


def record_distro(s: Session, checksum: str, url: str) -> bool:
    """The site's distribution is now `checksum`, served at `url`; True if that changed it
    (every listening frontend is notified: rocks_distro)."""
    row = s.get(DistroRow, DEFAULT_DISTRO)
    if row is not None and (row.checksum, row.url) == (checksum, url):
        return False
    if row is None:
        s.add(DistroRow(name=DEFAULT_DISTRO, checksum=checksum, url=url,
                        updated=datetime.now(UTC)))
    else:
        row.checksum, row.url, row.updated = checksum, url, datetime.now(UTC)
    return True


def current_distro(s: Session) -> Distro | None:
    row = s.get(DistroRow, DEFAULT_DISTRO)
    return None if row is None else Distro(row.checksum, row.url, row.updated)
