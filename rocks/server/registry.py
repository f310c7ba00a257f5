"""The frontend registry as the server uses it: every `rocks start frontend` sharing an
inventory says who it is, where nodes reach it and that it is alive, so the dashboard of any
of them shows them all (the rows: rocks/inventory/frontends.py).

A frontend registers at start (its row is created or taken over by name), refreshes
`last_seen` every HEARTBEAT seconds with the checksum of the distribution it serves, and marks
itself stopped when it stops cleanly. One killed with SIGKILL simply stops being seen: after
STALE seconds the others show it `down` (its nodes, retrying, have gone to another frontend by
then; nothing it acknowledged is lost, since every event was committed before its answer).
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from rocks.inventory import frontends as rows
from rocks.inventory.frontends import HEARTBEAT, STALE, FrontendInfo

if TYPE_CHECKING:
    from rocks.inventory import Inventory
    from rocks.server.config import ServerConfig

__all__ = ["HEARTBEAT", "STALE", "FrontendInfo", "distro_checksum", "frontend_name",
           "frontend_url", "heartbeat", "list_frontends", "register"]


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
    with inventory.transaction() as s:
        rows.register(s, name, url, distro)


def heartbeat(inventory: Inventory, name: str, distro: str, *, stopped: bool = False) -> None:
    with inventory.transaction() as s:
        rows.heartbeat(s, name, distro, stopped=stopped)


def list_frontends(inventory: Inventory) -> list[FrontendInfo]:
    with inventory.transaction(readonly=True) as s:
        return rows.list_frontends(s)
