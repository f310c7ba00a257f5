"""Small read services the commands need besides the nouns' own queries: names for argument
checks and host expansion, and the host table's rows (commands never query tables directly)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from rocks.inventory.schema import ApplianceRow, BootActionRow, HostRow, InterfaceRow, NetworkRow


def host_names(session: Session) -> list[str]:
    return list(session.scalars(select(HostRow.name).order_by(HostRow.name)))


def host_racks(session: Session) -> list[tuple[str, int, str]]:
    """(host, rack, appliance) of every host, for host-argument expansion."""
    rows = session.execute(
        select(HostRow.name, HostRow.rack, ApplianceRow.name).join(
            ApplianceRow, HostRow.appliance_id == ApplianceRow.id)).all()
    return [(n, r, a) for n, r, a in rows]


def appliance_names(session: Session) -> list[str]:
    return list(session.scalars(select(ApplianceRow.name).order_by(ApplianceRow.name)))


def network_names(session: Session) -> list[str]:
    return list(session.scalars(select(NetworkRow.name).order_by(NetworkRow.name)))


def bootaction_names(session: Session) -> list[str]:
    return list(session.scalars(select(BootActionRow.name).order_by(BootActionRow.name)))


def host_rows(session: Session) -> list[tuple[str, str, int, int, str, str, str, str, str]]:
    """`rocks list host`'s columns for every host, by name."""
    query = (select(HostRow.name, ApplianceRow.name, HostRow.rack, HostRow.rank, HostRow.os,
                    HostRow.boot, HostRow.install_action, HostRow.run_action, HostRow.comment)
             .join(ApplianceRow, HostRow.appliance_id == ApplianceRow.id)
             .order_by(HostRow.name))
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def host_boots(session: Session) -> list[tuple[str, str]]:
    """(host, boot) of every host, by name."""
    return [(n, b) for n, b in session.execute(
        select(HostRow.name, HostRow.boot).order_by(HostRow.name))]


def hosts_with_interface(session: Session, hosts: list[str], device: str) -> set[str]:
    return set(session.scalars(
        select(HostRow.name).join(InterfaceRow, InterfaceRow.host_id == HostRow.id)
        .where(InterfaceRow.device == device, HostRow.name.in_(hosts))))


def bootaction_users(session: Session, name: str) -> int:
    """How many hosts use the boot action as their install or run action."""
    return int(session.scalar(select(func.count()).select_from(HostRow).where(
        or_(HostRow.install_action == name, HostRow.run_action == name))) or 0)


def host_ids(session: Session, ids: list[int] | None = None) -> dict[str, int]:
    """Every host's (or those of these ids that exist) row id by name."""
    q = select(HostRow.id, HostRow.name)
    if ids is not None:
        q = q.where(HostRow.id.in_(ids))
    return {n: i for i, n in session.execute(q)}
