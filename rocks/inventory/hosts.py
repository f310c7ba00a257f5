"""Hosts and their interfaces: add, look up, change, remove; rank allocation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory import core
from rocks.inventory.lookup import appliance_id, host_id, host_row, network_row, unknown
from rocks.inventory.schema import ApplianceRow, HostRow, InterfaceRow, NetworkRow
from rocks.inventory.validate import normalise_mac, parse_ip, parse_network
from rocks.model.inventory import BMC_PROTOCOLS, BootState, Host, Interface


@dataclass(frozen=True, slots=True)
class CheckedInterface:
    """An interface's column values after validation (MAC normalised, IP inside its network)."""

    device: str
    mac: str | None
    ip: str | None
    network_id: int | None
    values: dict[str, Any]


def check_interface(
    host: str, iface: Interface, networks: dict[str, tuple[int, Any]]
) -> CheckedInterface:
    """Validate one interface against `networks` (name → (id, ip_network)), raising on error."""
    if not iface.device:
        raise RocksError.of("bad-interface", f"host {host}: an interface needs a device name")
    mac = normalise_mac(iface.mac, host) if iface.mac else None
    network_id: int | None = None
    ip: str | None = None
    if iface.network:
        if iface.network not in networks:
            raise unknown("network", iface.network, hint="see `rocks list network`")
        network_id, net = networks[iface.network]
    if iface.ip:
        address = parse_ip(iface.ip, host)
        if network_id is not None and address not in net:
            raise RocksError.of(
                "ip-outside-network",
                f"host {host} {iface.device}: {address} is not inside network "
                f"{iface.network} ({net})",
                hint=f"choose an address in {net}, or another network",
            )
        ip = str(address)
    if iface.bmc and iface.bmc not in BMC_PROTOCOLS:
        raise RocksError.of(
            "bad-bmc", f"host {host} {iface.device}: bmc {iface.bmc!r} is not a BMC protocol",
            hint="bmc=ipmi or bmc=redfish (empty: not a BMC)")
    values = {
        "device": iface.device,
        "mac": mac,
        "ip": ip,
        "network_id": network_id,
        "name": iface.name,
        "module": iface.module,
        "vlan": iface.vlan,
        "options": iface.options,
        "default_gateway": iface.default_gateway,
        "bmc": iface.bmc or None,
    }
    return CheckedInterface(iface.device, mac, ip, network_id, values)


def network_index(session: Session) -> dict[str, tuple[int, Any]]:
    rows = session.execute(
        select(NetworkRow.id, NetworkRow.name, NetworkRow.subnet, NetworkRow.netmask)
    )
    return {name: (nid, parse_network(name, sub, mask)) for nid, name, sub, mask in rows}


def _iface_query() -> Any:
    return (
        select(InterfaceRow, HostRow.name, NetworkRow.name)
        .join(HostRow, InterfaceRow.host_id == HostRow.id)
        .outerjoin(NetworkRow, InterfaceRow.network_id == NetworkRow.id)
    )


def _to_interface(row: InterfaceRow, host: str, network: str | None) -> Interface:
    return Interface(
        host=host,
        device=row.device,
        mac=row.mac or "",
        ip=row.ip or "",
        network=network or "",
        name=row.name,
        module=row.module,
        vlan=row.vlan,
        options=row.options,
        default_gateway=row.default_gateway,
        bmc=row.bmc or "",
    )


def list_interfaces(session: Session, host: str | None = None) -> list[Interface]:
    query = _iface_query().order_by(HostRow.name, InterfaceRow.device)
    if host is not None:
        query = query.where(InterfaceRow.host_id == host_id(session, host))
    return [_to_interface(r, h, n) for r, h, n in session.execute(query)]


def _owner_of(session: Session, condition: Any) -> tuple[str, str] | None:
    found = session.execute(
        select(HostRow.name, InterfaceRow.device)
        .join(HostRow, InterfaceRow.host_id == HostRow.id)
        .where(condition)
    ).first()
    return (found[0], found[1]) if found else None


def add_interface(session: Session, iface: Interface) -> Interface:
    """Add an interface to `iface.host`, refusing duplicate MACs, addresses and devices."""
    hid = host_id(session, iface.host)
    networks: dict[str, tuple[int, Any]] = {}
    if iface.network:
        net = network_row(session, iface.network)
        networks[net.name] = (net.id, parse_network(net.name, net.subnet, net.netmask))
    checked = check_interface(iface.host, iface, networks)
    clash = _owner_of(
        session, (InterfaceRow.host_id == hid) & (InterfaceRow.device == checked.device)
    )
    if clash:
        raise RocksError.of(
            "duplicate-interface",
            f"host {iface.host} already has an interface {checked.device}",
            hint="remove it first, or use `rocks set host interface …`",
        )
    if checked.mac and (clash := _owner_of(session, InterfaceRow.mac == checked.mac)):
        raise RocksError.of(
            "duplicate-mac",
            f"MAC {checked.mac} for host {iface.host} is already used by {clash[0]} {clash[1]}",
            hint="each MAC address belongs to one interface",
        )
    if checked.ip and checked.network_id is not None:
        clash = _owner_of(
            session,
            (InterfaceRow.network_id == checked.network_id) & (InterfaceRow.ip == checked.ip),
        )
        if clash:
            raise RocksError.of(
                "duplicate-ip",
                f"IP {checked.ip} for host {iface.host} on network {iface.network} is already "
                f"used by {clash[0]} {clash[1]}",
                hint="see `rocks report nextip` for a free address",
            )
    row = InterfaceRow(host_id=hid, **checked.values)
    session.add(row)
    session.flush()
    return _to_interface(row, iface.host, iface.network or None)


def remove_interface(session: Session, host: str, device: str) -> None:
    hid = host_id(session, host)
    result = session.execute(
        delete(InterfaceRow).where(InterfaceRow.host_id == hid, InterfaceRow.device == device)
    )
    if not getattr(result, "rowcount", 0):
        raise RocksError.of(
            "unknown-interface",
            f"host {host} has no interface {device}",
            hint=f"see `rocks list host interface {host}`",
        )


def _to_host(row: HostRow, appliance: str, interfaces: Sequence[Interface] = ()) -> Host:
    return Host(
        name=row.name,
        appliance=appliance,
        rack=row.rack,
        rank=row.rank,
        os=row.os,
        install_action=row.install_action,
        run_action=row.run_action,
        boot=BootState(row.boot),
        comment=row.comment,
        interfaces=tuple(interfaces),
    )


def check_host_name(session: Session, name: str) -> None:
    core.check_host_name(core.Db.of(session), name)


def add_host(session: Session, host: Host) -> Host:
    """Add `host` and the interfaces it carries; `host.appliance` must exist."""
    core.add_host(core.Db.of(session), host)
    ifaces = [add_interface(session, _retarget(i, host.name)) for i in host.interfaces]
    return Host(host.name, host.appliance, host.rack, host.rank, host.os, host.install_action,
                host.run_action, BootState(host.boot), host.comment, tuple(ifaces))


def _retarget(iface: Interface, host: str) -> Interface:
    if iface.host == host:
        return iface
    return Interface(
        host=host,
        device=iface.device,
        mac=iface.mac,
        ip=iface.ip,
        network=iface.network,
        name=iface.name,
        module=iface.module,
        vlan=iface.vlan,
        options=iface.options,
        default_gateway=iface.default_gateway,
        bmc=iface.bmc,
    )


def list_hosts(session: Session, names: Iterable[str] | None = None) -> list[Host]:
    """Hosts (with interfaces) sorted by name; every name asked for must exist."""
    query = select(HostRow, ApplianceRow.name).join(
        ApplianceRow, HostRow.appliance_id == ApplianceRow.id
    )
    iface_query = _iface_query()
    wanted: list[str] | None = None
    if names is not None:
        wanted = list(dict.fromkeys(names))
        query = query.where(HostRow.name.in_(wanted))
        iface_query = iface_query.where(HostRow.name.in_(wanted))
    rows = session.execute(query.order_by(HostRow.name)).all()
    if wanted is not None and len(rows) != len(wanted):
        found = {r[0].name for r in rows}
        missing = [n for n in wanted if n not in found]
        raise unknown("host", ", ".join(missing))
    by_host: dict[str, list[Interface]] = {}
    for irow, hname, nname in session.execute(iface_query.order_by(InterfaceRow.device)):
        by_host.setdefault(hname, []).append(_to_interface(irow, hname, nname))
    return [_to_host(r, a, by_host.get(r.name, ())) for r, a in rows]


def get_host(session: Session, name: str) -> Host:
    return list_hosts(session, [name])[0]


def find_host(session: Session, *, mac: str = "", ip: str = "") -> Host | None:
    """The host owning an interface with this MAC or address (how a booting node is known)."""
    if mac:
        condition = InterfaceRow.mac == normalise_mac(mac)
    elif ip:
        condition = InterfaceRow.ip == str(parse_ip(ip))
    else:
        raise ValueError("find_host needs mac or ip")
    owner = _owner_of(session, condition)
    return get_host(session, owner[0]) if owner else None


def update_host(
    session: Session,
    name: str,
    *,
    appliance: str | None = None,
    rack: int | None = None,
    rank: int | None = None,
    os: str | None = None,
    install_action: str | None = None,
    run_action: str | None = None,
    boot: BootState | str | None = None,
    comment: str | None = None,
) -> Host:
    """Change the given fields of host `name` (None leaves a field as it is)."""
    row = host_row(session, name)
    if appliance is not None:
        row.appliance_id = appliance_id(session, appliance)
    if boot is not None:
        try:
            row.boot = BootState(boot).value
        except ValueError:
            raise RocksError.of(
                "bad-boot-state", f"host {name}: boot state {boot!r} is not install or os"
            ) from None
    for field, value in (
        ("rack", rack),
        ("rank", rank),
        ("os", os),
        ("install_action", install_action),
        ("run_action", run_action),
        ("comment", comment),
    ):
        if value is not None:
            setattr(row, field, value)
    session.flush()
    return get_host(session, name)


def remove_host(session: Session, name: str) -> None:
    """Remove a host; its interfaces, attributes, events and profile go with it (cascade)."""
    hid = host_id(session, name)
    session.execute(delete(HostRow).where(HostRow.id == hid))


def next_rank(session: Session, appliance: str, rack: int) -> int:
    """One more than the highest rank of `appliance` hosts in `rack` (0 for the first)."""
    return core.next_rank(core.Db.of(session), appliance, rack)


def rename_host(session: Session, name: str, new_name: str) -> Host:
    """Rename host `name`; the new name must be valid and free (interfaces follow by id)."""
    row = host_row(session, name)
    if new_name != name:
        check_host_name(session, new_name)
        row.name = new_name
        session.flush()
    return get_host(session, new_name)


_UNSET: Any = object()


def update_interface(
    session: Session,
    host: str,
    device: str,
    *,
    new_device: str | None = None,
    mac: str | None = None,
    ip: str | None = None,
    network: str | None = None,
    module: str | None = None,
    vlan: int | None = _UNSET,
    options: str | None = None,
    bmc: str | None = None,
) -> Interface:
    """Change fields of `host`'s interface `device` (None leaves a field; "" clears mac, ip,
    network; vlan=None clears it) with the same checks as `add_interface`."""
    hid = host_id(session, host)
    row = session.scalars(
        select(InterfaceRow).where(InterfaceRow.host_id == hid, InterfaceRow.device == device)
    ).one_or_none()
    if row is None:
        raise RocksError.of(
            "unknown-interface",
            f"host {host} has no interface {device}",
            hint=f"see `rocks list host interface {host}`",
        )
    current = session.scalar(select(NetworkRow.name).where(NetworkRow.id == row.network_id))
    wanted = Interface(
        host=host,
        device=device if new_device is None else new_device,
        mac=(row.mac or "") if mac is None else mac,
        ip=(row.ip or "") if ip is None else ip,
        network=(current or "") if network is None else network,
        name=row.name,
        module=row.module if module is None else module,
        vlan=row.vlan if vlan is _UNSET else vlan,
        options=row.options if options is None else options,
        default_gateway=row.default_gateway,
        bmc=(row.bmc or "") if bmc is None else bmc,
    )
    networks: dict[str, tuple[int, Any]] = {}
    if wanted.network:
        net = network_row(session, wanted.network)
        networks[net.name] = (net.id, parse_network(net.name, net.subnet, net.netmask))
    checked = check_interface(host, wanted, networks)
    others = InterfaceRow.id != row.id
    if checked.device != device and _owner_of(
        session, others & (InterfaceRow.host_id == hid) & (InterfaceRow.device == checked.device)
    ):
        raise RocksError.of(
            "duplicate-interface",
            f"host {host} already has an interface {checked.device}",
            hint="choose another device name, or remove that interface first",
        )
    if checked.mac and (clash := _owner_of(session, others & (InterfaceRow.mac == checked.mac))):
        raise RocksError.of(
            "duplicate-mac",
            f"MAC {checked.mac} for host {host} is already used by {clash[0]} {clash[1]}",
            hint="each MAC address belongs to one interface",
        )
    if checked.ip and checked.network_id is not None:
        clash = _owner_of(
            session,
            others
            & (InterfaceRow.network_id == checked.network_id)
            & (InterfaceRow.ip == checked.ip),
        )
        if clash:
            raise RocksError.of(
                "duplicate-ip",
                f"IP {checked.ip} for host {host} on network {wanted.network} is already "
                f"used by {clash[0]} {clash[1]}",
                hint="see `rocks report nextip` for a free address",
            )
    for key, value in checked.values.items():
        setattr(row, key, value)
    session.flush()
    return _to_interface(row, host, wanted.network or None)


def bmc_interfaces(session: Session, hosts: Iterable[str] | None = None) -> list[Interface]:
    """The interfaces marked as BMCs (of `hosts`, or of every host), by host and device."""
    query = _iface_query().where(InterfaceRow.bmc.is_not(None))
    if hosts is not None:
        query = query.where(HostRow.name.in_(list(hosts)))
    rows = session.execute(query.order_by(HostRow.name, InterfaceRow.device))
    return [_to_interface(row, host, net) for row, host, net in rows]
