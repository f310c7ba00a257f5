"""The frontend registry: every `rocks start frontend` sharing an inventory says who it is,
where nodes reach it and that it is alive, so the dashboard of any of them shows them all.

A frontend registers at start (its row is created or taken over by name), refreshes
`last_seen` every HEARTBEAT seconds with the checksum of the distribution it serves, and marks
itself stopped when it stops cleanly. One killed with SIGKILL simply stops being seen: after
STALE seconds the others show it `down` (its nodes, retrying, have gone to another frontend by
then; nothing it acknowledged is lost, since every event was committed before its answer).
"""

from __future__ import annotations

import hashlib
import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from rocks.inventory.schema import FrontendRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.inventory import Inventory
    from rocks.server.config import ServerConfig

log = logging.getLogger("rocks.server")
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


def frontend_name(config: ServerConfig) -> str:
    """The configured name, else this machine's short host name."""
    return config.name or socket.gethostname().split(".")[0] or "frontend"


def frontend_url(config: ServerConfig) -> str:
    host = config.host if config.host not in ("0.0.0.0", "::", "") else socket.getfqdn()
    return config.url or f"http://{host}:{config.port}"


def distro_checksum(distro: Path) -> str:
    """The sha256 of the distribution's repomd.xml ("" when there is none)."""
    try:
        return hashlib.sha256((distro / "repodata" / "repomd.xml").read_bytes()).hexdigest()
    except OSError:
        return ""


def register(inventory: Inventory, name: str, url: str, distro: str) -> None:
    now = datetime.now(UTC)
    with inventory.transaction() as s:
        row = s.scalar(select(FrontendRow).where(FrontendRow.name == name))
        if row is None:
            s.add(FrontendRow(name=name, url=url, started=now, last_seen=now, stopped=False,
                              distro=distro))
        else:
            row.url, row.started, row.last_seen, row.stopped, row.distro = (
                url, now, now, False, distro)


def heartbeat(inventory: Inventory, name: str, distro: str, *, stopped: bool = False) -> None:
    with inventory.transaction() as s:
        s.execute(update(FrontendRow).where(FrontendRow.name == name).values(
            last_seen=datetime.now(UTC), distro=distro, stopped=stopped))


def list_frontends(s: Session) -> list[FrontendInfo]:
    return [FrontendInfo(r.name, r.url, r.started, r.last_seen, r.stopped, r.distro)
            for r in s.scalars(select(FrontendRow).order_by(FrontendRow.name))]
