"""Networks (Rocks' `subnets`) and address allocation on them."""

from __future__ import annotations

import ipaddress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.lookup import network_row
from rocks.inventory.schema import InterfaceRow, NetworkRow
from rocks.inventory.validate import check_name, check_zone, parse_ip, parse_network
from rocks.model.inventory import Network

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


PRIVATE_ZONE = "local"


def default_zone(name: str) -> str:
    """Rocks' rule: the private network's DNS zone is "local"; any other network's is its
    name. The kickstart's DNS domain, DHCP's domain-name and /etc/hosts all use the zone."""
    return PRIVATE_ZONE if name == "private" else name


def _zone(network: str, zone: str) -> str:
    """A DNS zone name (validate.check_zone: the domain type), without a trailing dot."""
    text = zone.strip().rstrip(".")
    check_zone(network, text or zone)
    return text


def _gateway(name: str, gateway: str, net: IPNetwork) -> str:
    if not gateway:
        return ""
    gw = parse_ip(gateway)
    if gw not in net:
        raise RocksError.of(
            "ip-outside-network",
            f"gateway {gw} is not inside network {name} ({net})",
            hint=f"choose an address in {net}",
        )
    return str(gw)


def _check_mtu(name: str, mtu: int) -> None:
    if mtu <= 0:
        raise RocksError.of("bad-mtu", f"network {name}: mtu {mtu} is not positive")


def add_network(session: Session, network: Network) -> Network:
    """Add a network; an empty zone becomes default_zone(name)."""
    check_name("network", network.name)
    net = parse_network(network.name, network.subnet, network.netmask)
    gateway = _gateway(network.name, network.gateway, net)
    _check_mtu(network.name, network.mtu)
    zone = _zone(network.name, network.zone or default_zone(network.name))
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
        zone=zone,
        servedns=network.servedns,
        pxe=network.pxe,
        gateway=gateway,
    )
    session.add(row)
    session.flush()
    return to_network(row)


def update_network(
    session: Session,
    name: str,
    *,
    subnet: str | None = None,
    netmask: str | None = None,
    zone: str | None = None,
    mtu: int | None = None,
    gateway: str | None = None,
    servedns: bool | None = None,
    pxe: bool | None = None,
) -> Network:
    """Change the given fields of network `name` (None leaves a field as it is; gateway ""
    removes it). A new subnet or netmask is refused, naming each host and interface, when an
    interface address on the network (or its gateway) would fall outside it or become its
    network or broadcast address; nothing is changed then."""
    row = network_row(session, name)
    net = parse_network(name, row.subnet if subnet is None else subnet,
                        row.netmask if netmask is None else netmask)
    new_gateway = _gateway(name, row.gateway if gateway is None else gateway, net)
    if mtu is not None:
        _check_mtu(name, mtu)
    new_zone = row.zone if zone is None else _zone(name, zone)
    if subnet is not None or netmask is not None:
        _recheck_interfaces(session, row, net)
    row.subnet, row.netmask = str(net.network_address), str(net.netmask)
    row.gateway, row.zone = new_gateway, new_zone
    if mtu is not None:
        row.mtu = mtu
    if servedns is not None:
        row.servedns = servedns
    if pxe is not None:
        row.pxe = pxe
    session.flush()
    return to_network(row)


def _recheck_interfaces(session: Session, row: NetworkRow, net: IPNetwork) -> None:
    from rocks.errors import Diagnostic
    from rocks.inventory.schema import HostRow

    reserved = {net.network_address, net.broadcast_address} if net.num_addresses > 2 else set()
    problems = []
    rows = session.execute(
        select(HostRow.name, InterfaceRow.device, InterfaceRow.ip)
        .join(HostRow, InterfaceRow.host_id == HostRow.id)
        .where(InterfaceRow.network_id == row.id, InterfaceRow.ip.is_not(None))
        .order_by(HostRow.name, InterfaceRow.device)
    )
    for host, device, ip in rows:
        address = parse_ip(ip or "", host)
        if address not in net:
            why = f"is not inside {net}"
        elif address in reserved:
            why = f"would be the {'network' if address == net.network_address else 'broadcast'}" \
                  f" address of {net}"
        else:
            continue
        problems.append(Diagnostic(
            "ip-outside-network",
            f"network {row.name}: host {host} interface {device} address {address} {why}",
            None, f"move it first: rocks set host interface ip {host} {device} <address in {net}>",
        ))
    if problems:
        raise RocksError(*problems)


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
