"""Hosts and their interfaces: add, look up, change, remove; rank allocation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory import core
from rocks.inventory.lookup import appliance_id, host_id, host_row, unknown
from rocks.inventory.schema import ApplianceRow, HostRow, InterfaceRow, NetworkRow
from rocks.inventory.validate import normalise_mac, parse_ip
from rocks.model.inventory import BootState, Host, Interface


def network_index(session: Session) -> dict[str, tuple[int, Any]]:
    return core.network_index(core.Db.of(session))


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
    """Add an interface to `iface.host`, refusing duplicate MACs, addresses and devices
    (rocks.inventory.core's, on the session's connection)."""
    added = core.add_interface(core.Db.of(session), iface)
    session.expire_all()
    return added


def remove_interface(session: Session, host: str, device: str) -> None:
    core.remove_interface(core.Db.of(session), host, device)
    session.expire_all()


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
    vlan: int | None = core.UNSET,
    options: str | None = None,
    bmc: str | None = None,
) -> Interface:
    """Change fields of `host`'s interface `device` (None leaves a field; "" clears mac, ip,
    network; vlan=None clears it) with the same checks as `add_interface` (rocks.inventory.core,
    on the session's connection)."""
    changed = core.update_interface(core.Db.of(session), host, device, new_device=new_device,
                                    mac=mac, ip=ip, network=network, module=module, vlan=vlan,
                                    options=options, bmc=bmc)
    session.expire_all()
    return changed


def bmc_interfaces(session: Session, hosts: Iterable[str] | None = None) -> list[Interface]:
    """The interfaces marked as BMCs (of `hosts`, or of every host), by host and device."""
    query = _iface_query().where(InterfaceRow.bmc.is_not(None))
    if hosts is not None:
        query = query.where(HostRow.name.in_(list(hosts)))
    rows = session.execute(query.order_by(HostRow.name, InterfaceRow.device))
    return [_to_interface(row, host, net) for row, host, net in rows]
