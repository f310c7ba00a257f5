"""Name → row lookups with the inventory's standard "unknown X" errors, shared by the queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.schema import ApplianceRow, HostRow, NetworkRow


def unknown(kind: str, name: str, hint: str = "") -> RocksError:
    return RocksError.of(
        f"unknown-{kind}", f"no {kind} named {name!r}", hint=hint or f"see `rocks list {kind}`"
    )


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
    """The host a Rocks host argument names by address, as Rocks' getHostname resolved it: an
    IP of one of its interfaces, a MAC, or an FQDN `<name>.<zone>` — the host's (or its
    interface's) name on a network whose zone that is, or on the cluster's DNS domain."""
    import ipaddress

    from rocks.inventory.schema import InterfaceRow

    def owner(condition: Any) -> str | None:
        found: str | None = session.scalar(
            select(HostRow.name).join(InterfaceRow, InterfaceRow.host_id == HostRow.id)
            .where(condition).order_by(HostRow.name).limit(1))
        return found

    try:
        return owner(InterfaceRow.ip == str(ipaddress.ip_address(word)))
    except ValueError:
        pass
    from rocks.inventory.validate import normalise_mac

    if len(word) >= 12 and all(c in "0123456789abcdefABCDEF:-." for c in word):
        try:
            return owner(InterfaceRow.mac == normalise_mac(word))
        except RocksError:
            pass
    from sqlalchemy import func

    label, dot, zone = word.lower().rstrip(".").partition(".")
    if not dot or not label:
        return None  # DNS names are case-insensitive
    rows = session.execute(
        select(HostRow.name, InterfaceRow.name, NetworkRow.zone)
        .join(InterfaceRow, InterfaceRow.host_id == HostRow.id)
        .join(NetworkRow, InterfaceRow.network_id == NetworkRow.id)
        .where((func.lower(HostRow.name) == label) | (func.lower(InterfaceRow.name) == label))
        .order_by(HostRow.name)
    ).all()
    for host, ifname, net_zone in rows:
        if (ifname or host).lower() == label and (net_zone or "").lower() == zone:
            return str(host)
    named: str | None = session.scalar(
        select(HostRow.name).where(func.lower(HostRow.name) == label)
        .order_by(HostRow.name).limit(1))
    if named is None:
        return None
    from rocks.inventory.netfacts import resolve_global

    domain = resolve_global(session).values.get("Kickstart_PrivateDNSDomain", "")
    return named if domain and domain.lower().rstrip(".") == zone else None


def not_found(kind: str, name: str, known: Iterable[str], listing: str) -> RocksError:
    """`unknown <kind> "<name>"` with the closest known name as the hint (argument checks of
    the CLI and the frontend's write API)."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"see `{listing}`"
    return RocksError.of(f"unknown-{kind.replace(' ', '')}", f'unknown {kind} "{name}"', hint=hint)


def need_appliance(s: Session, name: str) -> None:
    from rocks.inventory.names import appliance_names

    known = appliance_names(s)
    if name not in known:
        raise not_found("appliance", name, known, "rocks list appliance")


def need_network(s: Session, name: str) -> None:
    from rocks.inventory.names import network_names

    known = network_names(s)
    if name not in known:
        raise not_found("network", name, known, "rocks list network")


def need_bootaction(s: Session, name: str) -> None:
    from rocks.inventory.names import bootaction_names

    known = bootaction_names(s)
    if name not in known:
        raise not_found("boot action", name, known, "rocks list bootaction")
