"""Attributes at global, os, appliance, rack and host scope, and their resolution for a host.

Resolution follows Rocks: intrinsic `hostname rack rank appliance os` first, then the network
facts (`Kickstart_Private*`… derived from the networks, see netfacts.py), then global < os <
appliance < rack < host (each may override the intrinsics and the derived facts), then
`hostaddr`/`ksmac` from the host's interface on the PXE network (or its first interface by
device name; never its BMC).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.lookup import appliance_id, host_id, unknown
from rocks.inventory.netfacts import NETWORK, network_facts
from rocks.inventory.schema import ApplianceRow, AttributeRow, HostRow, InterfaceRow, NetworkRow
from rocks.model.inventory import SCOPE_PRECEDENCE, Attribute, ResolvedAttributes, Scope

_ATTR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
INTRINSIC = "intrinsic"


def check_attr_name(name: str) -> None:
    if not _ATTR_NAME.fullmatch(name):
        raise RocksError.of(
            "bad-attr-name",
            f"attribute name {name!r} is not valid",
            hint="use letters, digits, '_', '.' and '-', starting with a letter or '_'",
        )


def _scope(scope: Scope | str) -> Scope:
    try:
        return Scope(scope)
    except ValueError:
        raise RocksError.of(
            "bad-scope", f"{scope!r} is not an attribute scope",
            hint="global, os, appliance, rack, host"
        ) from None


def target_columns(session: Session, scope: Scope | str, target: str) -> dict[str, Any]:
    """The (os, appliance_id, host_id) columns that identify `target` within `scope`."""
    scope = _scope(scope)
    cols: dict[str, Any] = {"os": None, "appliance_id": None, "host_id": None, "rack": None}
    if scope is Scope.GLOBAL:
        if target:
            raise RocksError.of("bad-target", f"global attributes take no target (got {target!r})")
        cols["os"] = ""  # see AttributeRow: '' marks global in the os column
    elif not target:
        raise RocksError.of("bad-target", f"{scope} attributes need a target {scope} name")
    elif scope is Scope.OS:
        cols["os"] = target
    elif scope is Scope.APPLIANCE:
        cols["appliance_id"] = appliance_id(session, target)
    elif scope is Scope.RACK:
        cols["rack"] = rack_number(target)
    else:
        cols["host_id"] = host_id(session, target)
    return cols


def rack_number(target: str) -> int:
    """A rack target: a number (`3` or `rack3`), hosts in it or not."""
    text = target[4:] if target.startswith("rack") else target
    if not text.isdigit():
        raise RocksError.of("bad-target", f"rack {target!r} is not a rack number",
                            hint="a number such as 3 (or rack3)")
    return int(text)


def _where(scope: Scope, cols: dict[str, Any]) -> list[Any]:
    return [
        AttributeRow.scope == scope.value,
        AttributeRow.os.is_(None) if cols["os"] is None else AttributeRow.os == cols["os"],
        AttributeRow.appliance_id.is_(None)
        if cols["appliance_id"] is None
        else AttributeRow.appliance_id == cols["appliance_id"],
        AttributeRow.host_id.is_(None)
        if cols["host_id"] is None
        else AttributeRow.host_id == cols["host_id"],
        AttributeRow.rack.is_(None) if cols["rack"] is None else AttributeRow.rack == cols["rack"],
    ]


def set_attr(
    session: Session,
    scope: Scope | str,
    target: str,
    name: str,
    value: str,
    secret: bool = False,
) -> Attribute:
    """Create or replace attribute `name` at (`scope`, `target`)."""
    scope = _scope(scope)
    check_attr_name(name)
    cols = target_columns(session, scope, target)
    row = session.scalars(
        select(AttributeRow).where(*_where(scope, cols), AttributeRow.name == name)
    ).one_or_none()
    if row is None:
        row = AttributeRow(name=name, value=value, scope=scope.value, secret=secret, **cols)
        session.add(row)
    else:
        row.value = value
        row.secret = secret
    session.flush()
    return Attribute(name, value, scope, target, secret)


def remove_attr(session: Session, scope: Scope | str, target: str, name: str) -> None:
    scope = _scope(scope)
    cols = target_columns(session, scope, target)
    row = session.scalars(
        select(AttributeRow).where(*_where(scope, cols), AttributeRow.name == name)
    ).one_or_none()
    if row is None:
        where = f"{scope} {target}".strip()
        raise unknown("attr", name, hint=f"no such attribute at {where}; see `rocks list attr`")
    session.delete(row)
    session.flush()


def list_attrs(
    session: Session, scope: Scope | str | None = None, target: str | None = None
) -> list[Attribute]:
    """Attributes, optionally of one scope (and one target in it), sorted scope, target, name."""
    query = (
        select(AttributeRow, ApplianceRow.name, HostRow.name)
        .outerjoin(ApplianceRow, AttributeRow.appliance_id == ApplianceRow.id)
        .outerjoin(HostRow, AttributeRow.host_id == HostRow.id)
    )
    if scope is not None:
        scope = _scope(scope)
        if target is not None:
            query = query.where(*_where(scope, target_columns(session, scope, target)))
        else:
            query = query.where(AttributeRow.scope == scope.value)
    out = [
        Attribute(row.name, row.value, Scope(row.scope),
                  row.os or app or host or ("" if row.rack is None else str(row.rack)),
                  row.secret)
        for row, app, host in session.execute(query)
    ]
    order = {s: i for i, s in enumerate(SCOPE_PRECEDENCE)}
    return sorted(out, key=lambda a: (order[a.scope], a.target, a.name))


def _interface_attrs(rows: Iterable[tuple[str, str | None, str | None, bool, str]]
                     ) -> tuple[dict[str, str], tuple[str, ...]]:
    """hostaddr/ksmac from (device, ip, mac, on_pxe_network, network) rows sorted by device,
    and the network of that interface when it is a PXE network (where the host boots from)."""
    rows = list(rows)
    chosen = next((r for r in rows if r[3]), rows[0] if rows else None)
    if chosen is None:
        return {}, ()
    out: dict[str, str] = {}
    if chosen[1]:
        out["hostaddr"] = chosen[1]
    if chosen[2]:
        out["ksmac"] = chosen[2]
    return out, ((chosen[4],) if chosen[3] and chosen[4] else ())


def resolve_attrs_many(
    session: Session, names: Iterable[str] | None = None, *,
    only: Collection[str] | None = None,
) -> dict[str, ResolvedAttributes]:
    """Resolved attributes for many hosts (all when `names` is None) in a fixed few queries.
    `only`: resolve just these attribute names (and what decides them), e.g. the frontend
    facts sync needs for every host."""
    from rocks.inventory.netfacts import (
        FRONTEND_ATTR,
        Fact,
        Served,
        derive,
        frontend_nics,
    )
    from rocks.inventory.networks import list_networks

    hq = select(
        HostRow.id,
        HostRow.name,
        HostRow.rack,
        HostRow.rank,
        HostRow.os,
        HostRow.appliance_id,
        ApplianceRow.name,
    ).join(ApplianceRow, HostRow.appliance_id == ApplianceRow.id)
    wanted = None if names is None else list(dict.fromkeys(names))
    if wanted is not None:
        hq = hq.where(HostRow.name.in_(wanted))
    hosts = session.execute(hq.order_by(HostRow.name)).all()
    if wanted is not None and len(hosts) != len(wanted):
        found = {h[1] for h in hosts}
        raise unknown("host", ", ".join(n for n in wanted if n not in found))
    host_ids = [h[0] for h in hosts]
    aq = select(AttributeRow)
    if wanted is not None:
        aq = aq.where(
            or_(
                AttributeRow.scope.in_(("global", "os", "appliance", "rack")),
                AttributeRow.host_id.in_(host_ids),
            )
        )
    if only is not None:
        aq = aq.where(AttributeRow.name.in_({*only, FRONTEND_ATTR}))
    # key per scope: global → "", os → os name, appliance → appliance id, rack → rack number,
    # host → host id
    layers: dict[Scope, dict[Any, list[AttributeRow]]] = {s: {} for s in SCOPE_PRECEDENCE}
    for row in session.scalars(aq.order_by(AttributeRow.name)):
        slot = {"global": "", "os": row.os, "appliance": row.appliance_id, "rack": row.rack,
                "host": row.host_id}
        layers[Scope(row.scope)].setdefault(slot[row.scope], []).append(row)
    iq = (
        select(
            InterfaceRow.host_id,
            InterfaceRow.device,
            InterfaceRow.ip,
            InterfaceRow.mac,
            NetworkRow.pxe,
            NetworkRow.name,
        )
        .outerjoin(NetworkRow, InterfaceRow.network_id == NetworkRow.id)
        .where(InterfaceRow.bmc.is_(None))  # a BMC is never the host's own address
        .order_by(InterfaceRow.host_id, InterfaceRow.device)
    )
    if wanted is not None:
        iq = iq.where(InterfaceRow.host_id.in_(host_ids))
    ifaces: dict[int, list[tuple[str, str | None, str | None, bool, str]]] = {}
    for hid, device, ip, mac, pxe, net in session.execute(iq):
        ifaces.setdefault(hid, []).append((device, ip, mac, bool(pxe), net or ""))

    explicit = {row.name: row.value for row in layers[Scope.GLOBAL].get("", ())}
    facts: dict[str, Fact] = {}
    served: Served | None = None
    if hosts:
        networks, nics = list_networks(session), frontend_nics(session)
        facts = derive(networks, nics, explicit)
        served = Served(networks, nics, facts)
    if only is not None:
        facts = {k: f for k, f in facts.items() if k in only}
    fact_values = {k: f.value for k, f in facts.items()}
    fact_sources: dict[str, Scope | str] = dict.fromkeys(facts, NETWORK)
    out: dict[str, ResolvedAttributes] = {}
    for hid, name, rack, rank, os_name, aid, app in hosts:
        values = {
            "hostname": name,
            "rack": str(rack),
            "rank": str(rank),
            "appliance": app,
            "os": os_name,
        }
        sources: dict[str, Scope | str] = dict.fromkeys(values, INTRINSIC)
        values.update(fact_values)
        sources.update(fact_sources)
        secret: set[str] = set()
        keys = {Scope.GLOBAL: "", Scope.OS: os_name, Scope.APPLIANCE: aid, Scope.RACK: rack,
                Scope.HOST: hid}
        own, pxe_nets = _interface_attrs(ifaces.get(hid, ()))
        for scope in SCOPE_PRECEDENCE:
            rows = layers[scope].get(keys[scope], ())
            for row in rows:
                if row.name == FRONTEND_ATTR and served is not None:
                    # the frontend's facts sit at the scope that chose it (netfacts.py)
                    chosen = served.facts(row.value.strip(), pxe_nets)
                    for key, fact in (chosen or {}).items():
                        if only is None or key in only:
                            values[key] = fact.value
                            sources[key] = NETWORK
                            secret.discard(key)
            for row in rows:
                values[row.name] = row.value
                sources[row.name] = scope
                if row.secret:
                    secret.add(row.name)
                else:
                    secret.discard(row.name)
        for key, value in own.items():
            values[key] = value
            sources[key] = INTRINSIC
            secret.discard(key)
        if only is not None:
            values = {k: v for k, v in values.items() if k in only}
            sources = {k: v for k, v in sources.items() if k in only}
        out[name] = ResolvedAttributes(values, sources, frozenset(secret))
    return out


def resolve_attrs(session: Session, host: str) -> ResolvedAttributes:
    """One host's attributes with the scope (or "intrinsic") each value came from."""
    return resolve_attrs_many(session, [host])[host]


def resolve_appliance_attrs(session: Session, appliance: str, os_name: str = "linux"
                            ) -> ResolvedAttributes:
    """What a new host of `appliance` would get from the inventory: network facts < global < os
    < appliance attributes (no intrinsics). An appliance the inventory does not know yet
    (declared by a roll only) gets network facts, global and os attributes."""
    aid = session.scalar(select(ApplianceRow.id).where(ApplianceRow.name == appliance))
    rows = session.scalars(select(AttributeRow).where(or_(
        AttributeRow.scope == Scope.GLOBAL.value,
        (AttributeRow.scope == Scope.OS.value) & (AttributeRow.os == os_name),
        (AttributeRow.scope == Scope.APPLIANCE.value) & (AttributeRow.appliance_id == aid)
        if aid is not None else false(),
    )).order_by(AttributeRow.name)).all()
    explicit = {r.name: r.value for r in rows if r.scope == Scope.GLOBAL.value}
    facts = network_facts(session, explicit)
    values: dict[str, str] = {name: fact.value for name, fact in facts.items()}
    sources: dict[str, Scope | str] = dict.fromkeys(facts, NETWORK)
    secret: set[str] = set()
    for scope in (Scope.GLOBAL, Scope.OS, Scope.APPLIANCE):
        for row in rows:
            if row.scope != scope.value:
                continue
            values[row.name] = row.value
            sources[row.name] = scope
            (secret.add if row.secret else secret.discard)(row.name)
    return ResolvedAttributes(values, sources, frozenset(secret))


def scoped_attr_exists(session: Session, names: Collection[str]) -> bool:
    """Whether any of these attributes is set below global scope (then hosts may differ)."""
    return session.scalar(select(AttributeRow.id).where(
        AttributeRow.name.in_(list(names)), AttributeRow.scope != Scope.GLOBAL.value).limit(1)
    ) is not None
