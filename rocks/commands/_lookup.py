"""Name checks shared by the command modules: an unknown appliance, network or boot action is an
error naming the closest known one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rocks.errors import RocksError

if TYPE_CHECKING:
    from rocks.inventory.core import Db
    from rocks.inventory.db import Session


def not_found(kind: str, name: str, known: Iterable[str], listing: str) -> RocksError:
    """`unknown <kind> "<name>"` with the closest known name as the hint."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"see `{listing}`"
    return RocksError.of(f"unknown-{kind.replace(' ', '')}", f'unknown {kind} "{name}"', hint=hint)


def need_appliance(s: Session | Db, name: str) -> None:
    from rocks.inventory import core

    known = core.appliance_names(core.Db.of(s))
    if name not in known:
        raise not_found("appliance", name, known, "rocks list appliance")


def need_network(s: Session | Db, name: str) -> None:
    from rocks.inventory import core

    known = core.network_names(core.Db.of(s))
    if name not in known:
        raise not_found("network", name, known, "rocks list network")


def need_bootaction(s: Session | Db, name: str) -> None:
    from rocks.inventory import core

    known = core.bootaction_names(core.Db.of(s))
    if name not in known:
        raise not_found("boot action", name, known, "rocks list bootaction")
