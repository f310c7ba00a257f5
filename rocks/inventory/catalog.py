"""Appliances, boot actions and rolls: the small catalogues hosts refer to; default seed data."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.lookup import unknown
from rocks.inventory.schema import ApplianceRow, BootActionRow, HostRow, RollRow
from rocks.inventory.validate import check_name
from rocks.model.attrtypes import bootaction_problem
from rocks.model.inventory import Appliance, BootAction, Roll

# Rocks' own defaults (core-pxe.xml); the kernel and initrd names are placeholders that the
# distribution build replaces with the real versioned files.
DEFAULT_BOOT_ACTIONS = (
    # sync adds inst.ks (with the token), inst.ks.sendmac, inst.repo and ip=dhcp itself
    BootAction("install", "vmlinuz", "initrd.img", "inst.ks.sendsn"),
    BootAction("os", "localboot", "", ""),
)


def _appliance(row: ApplianceRow) -> Appliance:
    return Appliance(row.name, row.node, row.kickstartable, row.public, row.graph)


def add_appliance(session: Session, appliance: Appliance) -> Appliance:
    check_name("appliance", appliance.name)
    if session.scalar(select(ApplianceRow.id).where(ApplianceRow.name == appliance.name)):
        raise RocksError.of("duplicate-appliance", f"appliance {appliance.name!r} already exists")
    if session.scalar(select(HostRow.id).where(HostRow.name == appliance.name)):
        raise RocksError.of(
            "bad-appliance-name",
            f"appliance name {appliance.name!r} is already a host name",
            hint="host arguments would become ambiguous; choose another name",
        )
    session.add(
        ApplianceRow(
            name=appliance.name,
            node=appliance.node,
            kickstartable=appliance.kickstartable,
            public=appliance.public,
            graph=appliance.graph,
        )
    )
    session.flush()
    return appliance


def get_appliance(session: Session, name: str) -> Appliance:
    row = session.scalars(select(ApplianceRow).where(ApplianceRow.name == name)).one_or_none()
    if row is None:
        raise unknown("appliance", name)
    return _appliance(row)


def list_appliances(session: Session) -> list[Appliance]:
    rows = session.scalars(select(ApplianceRow).order_by(ApplianceRow.name))
    return [_appliance(r) for r in rows]


def remove_appliance(session: Session, name: str) -> None:
    row = session.scalars(select(ApplianceRow).where(ApplianceRow.name == name)).one_or_none()
    if row is None:
        raise unknown("appliance", name)
    count = session.scalar(
        select(func.count()).select_from(HostRow).where(HostRow.appliance_id == row.id)
    )
    if count:
        raise RocksError.of(
            "appliance-in-use",
            f"appliance {name!r} still has {count} host(s)",
            hint="remove those hosts or change their appliance first",
        )
    session.delete(row)
    session.flush()


def _bootaction(row: BootActionRow) -> BootAction:
    return BootAction(row.name, row.kernel, row.initrd, row.args)


def add_bootaction(session: Session, action: BootAction, *, replace: bool = False) -> BootAction:
    """Add a boot action; with `replace`, an existing one of that name is overwritten."""
    if not action.name.strip():
        raise RocksError.of("bad-bootaction-name", "a boot action needs a name")
    why = bootaction_problem(action.name, action.kernel, action.initrd, action.args)
    if why:
        raise RocksError.of(
            "bad-bootaction", f"boot action {action.name}: {why}",
            hint="kernel and initrd are file names or URLs, args plain words separated by "
            "spaces: they are written into PXELINUX, GRUB and iPXE scripts")
    row = session.scalars(
        select(BootActionRow).where(BootActionRow.name == action.name)
    ).one_or_none()
    if row is not None and not replace:
        raise RocksError.of(
            "duplicate-bootaction",
            f"boot action {action.name!r} already exists",
            hint="remove it first, or replace it",
        )
    if row is None:
        row = BootActionRow(name=action.name)
        session.add(row)
    row.kernel, row.initrd, row.args = action.kernel, action.initrd, action.args
    session.flush()
    return action


def get_bootaction(session: Session, name: str) -> BootAction:
    row = session.scalars(select(BootActionRow).where(BootActionRow.name == name)).one_or_none()
    if row is None:
        raise unknown("bootaction", name)
    return _bootaction(row)


def list_bootactions(session: Session) -> list[BootAction]:
    rows = session.scalars(select(BootActionRow).order_by(BootActionRow.name))
    return [_bootaction(r) for r in rows]


def remove_bootaction(session: Session, name: str) -> None:
    row = session.scalars(select(BootActionRow).where(BootActionRow.name == name)).one_or_none()
    if row is None:
        raise unknown("bootaction", name)
    session.delete(row)
    session.flush()


def _roll(row: RollRow) -> Roll:
    return Roll(row.name, row.version, row.arch, row.os, row.enabled, row.trusted)


def add_roll(session: Session, roll: Roll) -> Roll:
    clash = session.scalar(
        select(RollRow.id).where(
            RollRow.name == roll.name, RollRow.version == roll.version, RollRow.arch == roll.arch
        )
    )
    if clash is not None:
        raise RocksError.of(
            "duplicate-roll",
            f"roll {roll.name} {roll.version} {roll.arch} is already added",
            hint="remove it first to add it again",
        )
    session.add(
        RollRow(
            name=roll.name,
            version=roll.version,
            arch=roll.arch,
            os=roll.os,
            enabled=roll.enabled,
            trusted=roll.trusted,
        )
    )
    session.flush()
    return roll


def _select_rolls(session: Session, name: str, version: str, arch: str) -> list[RollRow]:
    query = select(RollRow).where(RollRow.name == name)
    if version:
        query = query.where(RollRow.version == version)
    if arch:
        query = query.where(RollRow.arch == arch)
    rows = list(session.scalars(query.order_by(RollRow.version, RollRow.arch)))
    if not rows:
        wanted = " ".join(x for x in (name, version, arch) if x)
        raise unknown("roll", wanted)
    return rows


def list_rolls(session: Session, names: Iterable[str] | None = None) -> list[Roll]:
    query = select(RollRow).order_by(RollRow.name, RollRow.version, RollRow.arch)
    if names is not None:
        query = query.where(RollRow.name.in_(list(names)))
    return [_roll(r) for r in session.scalars(query)]


def update_rolls(
    session: Session,
    name: str,
    *,
    version: str = "",
    arch: str = "",
    enabled: bool | None = None,
    trusted: bool | None = None,
) -> list[Roll]:
    """Enable/disable or (un)trust every roll matching name [version] [arch]."""
    rows = _select_rolls(session, name, version, arch)
    for row in rows:
        if enabled is not None:
            row.enabled = enabled
        if trusted is not None:
            row.trusted = trusted
    session.flush()
    return [_roll(r) for r in rows]


def remove_roll(session: Session, name: str, *, version: str = "", arch: str = "") -> list[Roll]:
    rows = _select_rolls(session, name, version, arch)
    removed = [_roll(r) for r in rows]
    for row in rows:
        session.delete(row)
    session.flush()
    return removed


def has_appliances(session: Session) -> bool:
    return session.scalar(select(ApplianceRow.id).limit(1)) is not None


def seed_defaults(session: Session, appliances: Iterable[Appliance] = ()) -> None:
    """Insert the default boot actions and the given appliances where missing (idempotent)."""
    have = set(session.scalars(select(BootActionRow.name)))
    for action in DEFAULT_BOOT_ACTIONS:
        if action.name not in have:
            add_bootaction(session, action)
    known = set(session.scalars(select(ApplianceRow.name)))
    for appliance in appliances:
        if appliance.name not in known:
            add_appliance(session, appliance)
            known.add(appliance.name)
