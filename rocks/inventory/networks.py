"""Networks (Rocks' `subnets`) and address allocation on them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.lookup import network_row
from rocks.inventory.schema import InterfaceRow, NetworkRow
from rocks.inventory.validate import check_name, check_zone, parse_ip, parse_network
from rocks.model.inventory import Network


def to_network(row: NetworkRow) -> Network:
    return Network(
        name=row.name,
        subnet=row.subnet,
        netmask=row.netmask,
        mtu=row.mtu,
        zone=row.zone,
        servedns=row.servedns,
        pxe=row.pxe,
        gateway=row.gateway,
    )


def add_network(session: Session, network: Network) -> Network:
    check_name("network", network.name)
    check_zone(network.name, network.zone)
    net = parse_network(network.name, network.subnet, network.netmask)
    gateway = ""
    if network.gateway:
        gw = parse_ip(network.gateway)
        if gw not in net:
            raise RocksError.of(
                "ip-outside-network",
                f"gateway {gw} is not inside network {network.name} ({net})",
                hint=f"choose an address in {net}",
            )
        gateway = str(gw)
    if network.mtu <= 0:
        raise RocksError.of("bad-mtu", f"network {network.name}: mtu {network.mtu} is not positive")
    if session.scalar(select(NetworkRow.id).where(NetworkRow.name == network.name)) is not None:
        raise RocksError.of(
            "duplicate-network",
            f"network {network.name!r} already exists",
            hint="use `rocks set network …` to change it",
        )
    row = NetworkRow(
        name=network.name,
        subnet=str(net.network_address),
        netmask=str(net.netmask),
        mtu=network.mtu,
        zone=network.zone,
        servedns=network.servedns,
        pxe=network.pxe,
        gateway=gateway,
    )
    session.add(row)
    session.flush()
    return to_network(row)


def get_network(session: Session, name: str) -> Network:
    return to_network(network_row(session, name))


def list_networks(session: Session) -> list[Network]:
    return [to_network(r) for r in session.scalars(select(NetworkRow).order_by(NetworkRow.name))]


def remove_network(session: Session, name: str) -> None:
    row = network_row(session, name)
    used = session.scalar(
        select(func.count()).select_from(InterfaceRow).where(InterfaceRow.network_id == row.id)
    )
    if used:
        raise RocksError.of(
            "network-in-use",
            f"network {name!r} still has {used} interface(s) on it",
            hint="remove or move those interfaces first",
        )
    session.delete(row)
    session.flush()


def used_addresses(session: Session, network_id: int) -> set[str]:
    ips = session.scalars(
        select(InterfaceRow.ip).where(
            InterfaceRow.network_id == network_id, InterfaceRow.ip.is_not(None)
        )
    )
    return {ip for ip in ips if ip}


def next_ip(session: Session, network: str, *, increment: int = -1, base: str = "") -> str:
    """The first unused address, counting from `base` (default: the broadcast address) by
    `increment` — Rocks counts down from the top, leaving the bottom for the frontend."""
    row = network_row(session, network)
    net = parse_network(row.name, row.subnet, row.netmask)
    if increment == 0:
        raise RocksError.of("bad-increment", "next_ip increment must not be 0")
    taken = used_addresses(session, row.id)
    if row.gateway:
        taken.add(row.gateway)
    if base:
        start = int(parse_ip(base))
    else:
        start = int(net.broadcast_address if increment < 0 else net.network_address)
    kind = type(net.network_address)
    low, high = int(net.network_address), int(net.broadcast_address)
    candidate = start + increment
    # Network and broadcast addresses are never handed out (except on /31 and /32).
    if net.num_addresses > 2:
        low, high = low + 1, high - 1
    while low <= candidate <= high:
        address = str(kind(candidate))
        if address not in taken:
            return address
        candidate += increment
    raise RocksError.of(
        "network-full",
        f"network {network} ({net}) has no unused address left",
        hint="remove unused interfaces or use a larger network",
    )
