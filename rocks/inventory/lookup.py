"""Name → row lookups with the inventory's standard "unknown X" errors, shared by the queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rocks.inventory.core import need_appliance, need_bootaction, need_network, not_found
from rocks.inventory.schema import ApplianceRow, HostRow, NetworkRow
from rocks.inventory.validate import unknown

__all__ = ["appliance_id", "host_id", "host_row", "need_appliance", "need_bootaction",
           "need_network", "network_row", "not_found", "unknown"]


def host_row(session: Session, name: str) -> HostRow:
    row = session.scalars(select(HostRow).where(HostRow.name == name)).one_or_none()
    if row is None:
        raise unknown("host", name)
    return row


def host_id(session: Session, name: str) -> int:
    hid = session.scalar(select(HostRow.id).where(HostRow.name == name))
    if hid is None:
        raise unknown("host", name)
    return hid


def appliance_id(session: Session, name: str) -> int:
    aid = session.scalar(select(ApplianceRow.id).where(ApplianceRow.name == name))
    if aid is None:
        raise unknown("appliance", name, hint="see `rocks list appliance`, or add it first")
    return aid


def network_row(session: Session, name: str) -> NetworkRow:
    row = session.scalars(select(NetworkRow).where(NetworkRow.name == name)).one_or_none()
    if row is None:
        raise unknown("network", name, hint="see `rocks list network`, or add it first")
    return row


def host_by_address(session: Session, word: str) -> str | None:
    """The host a Rocks host argument names by address (IP, MAC or FQDN): rocks.inventory.core's
    rule, on the session's connection."""
    from rocks.inventory import core

    return core.host_by_address(core.Db.of(session), word)
