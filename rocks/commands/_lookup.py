"""Name checks shared by the command modules: an unknown appliance, network or boot action is an
error naming the closest known one. They live in rocks.inventory.lookup (shared with the
frontend's write API); these wrappers import it only when called (command modules stay light to
import)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rocks.errors import RocksError
    from rocks.inventory.db import Session


def not_found(kind: str, name: str, known: Iterable[str], listing: str) -> RocksError:
    from rocks.inventory.lookup import not_found as found

    return found(kind, name, known, listing)


def need_appliance(s: Session, name: str) -> None:
    from rocks.inventory.lookup import need_appliance as need

    need(s, name)


def need_network(s: Session, name: str) -> None:
    from rocks.inventory.lookup import need_network as need

    need(s, name)


def need_bootaction(s: Session, name: str) -> None:
    from rocks.inventory.lookup import need_bootaction as need

    need(s, name)
