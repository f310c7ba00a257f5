"""Adding many hosts at once (site restores, discovery of a whole rack, benchmarks).

Everything is validated up front against sets loaded in a few queries; then three Core
executemany INSERTs (hosts with RETURNING ids, interfaces, attributes) write it all, or on
PostgreSQL three COPYs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from rocks.errors import RocksError
from rocks.inventory.attrs import check_attr_name, rack_number
from rocks.inventory.core import check_interface
from rocks.inventory.hosts import network_index
from rocks.inventory.lookup import unknown
from rocks.inventory.schema import ApplianceRow, AttributeRow, HostRow, InterfaceRow
from rocks.inventory.validate import check_name
from rocks.model.inventory import Attribute, BootState, Host, Scope


def _dup(code: str, message: str, hint: str = "") -> RocksError:
    return RocksError.of(code, message, hint=hint or "each value may appear only once")


def add_hosts_bulk(session: Session, hosts: Sequence[Host], attrs: Iterable[Attribute] = ()) -> int:
    """Add `hosts` (with their interfaces) and host-scope `attrs` for them; all or nothing.

    Returns the number of hosts added.
    """
    taken_names = set(session.scalars(select(HostRow.name)))
    # (not dict(result): a Result has .keys(), so dict() would treat it as a mapping)
    appliances = {n: i for n, i in session.execute(select(ApplianceRow.name, ApplianceRow.id))}
    networks = network_index(session)
    taken_macs: dict[str, str] = {}
    taken_ips: dict[tuple[int, str], str] = {}
    for mac, ip, network_id, owner in session.execute(
        select(InterfaceRow.mac, InterfaceRow.ip, InterfaceRow.network_id, HostRow.name).join(
            HostRow, InterfaceRow.host_id == HostRow.id
        )
    ):
        if mac:
            taken_macs[mac] = owner
        if ip and network_id is not None:
            taken_ips[(network_id, ip)] = owner

    host_rows: list[dict[str, Any]] = []
    iface_rows: list[tuple[str, dict[str, Any]]] = []
    for host in hosts:
        check_name("host", host.name)
        if host.name in taken_names:
            raise _dup("duplicate-host", f"host {host.name!r} already exists")
        if host.name in appliances:
            raise RocksError.of("bad-host-name", f"host name {host.name!r} is an appliance name")
        if host.appliance not in appliances:
            raise unknown("appliance", host.appliance, hint=f"needed by host {host.name}")
        taken_names.add(host.name)
        host_rows.append(
            {
                "name": host.name,
                "appliance_id": appliances[host.appliance],
                "rack": host.rack,
                "rank": host.rank,
                "os": host.os,
                "install_action": host.install_action,
                "run_action": host.run_action,
                "boot": BootState(host.boot).value,
                "comment": host.comment,
            }
        )
        devices: set[str] = set()
        for iface in host.interfaces:
            checked = check_interface(host.name, iface, networks)
            if checked.device in devices:
                raise _dup("duplicate-interface", f"host {host.name} lists {checked.device} twice")
            devices.add(checked.device)
            if checked.mac:
                if checked.mac in taken_macs:
                    raise _dup(
                        "duplicate-mac",
                        f"MAC {checked.mac} for host {host.name} is already used by "
                        f"{taken_macs[checked.mac]}",
                    )
                taken_macs[checked.mac] = host.name
            if checked.ip and checked.network_id is not None:
                key = (checked.network_id, checked.ip)
                if key in taken_ips:
                    raise _dup(
                        "duplicate-ip",
                        f"IP {checked.ip} for host {host.name} on network {iface.network} is "
                        f"already used by {taken_ips[key]}",
                    )
                taken_ips[key] = host.name
            iface_rows.append((host.name, checked.values))

    batch = {h.name for h in hosts}
    attr_rows: list[tuple[str, dict[str, Any]]] = []
    seen_attrs: set[tuple[str, str]] = set()
    for attr in attrs:
        if Scope(attr.scope) is not Scope.HOST or attr.target not in batch:
            raise RocksError.of(
                "bad-target",
                f"bulk attribute {attr.name} must be host-scoped to a host in the batch "
                f"(got {attr.scope} {attr.target!r})",
            )
        check_attr_name(attr.name)
        if (attr.target, attr.name) in seen_attrs:
            raise _dup("duplicate-attr", f"host {attr.target} sets {attr.name} twice")
        seen_attrs.add((attr.target, attr.name))
        attr_rows.append(
            (
                attr.target,
                {
                    "name": attr.name,
                    "value": attr.value,
                    "scope": "host",
                    "os": None,
                    "appliance_id": None,
                    "secret": attr.secret,
                },
            )
        )

    if not host_rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        _write_postgresql(session, host_rows, iface_rows, attr_rows)
    else:
        _write_generic(session, host_rows, iface_rows, attr_rows)
    return len(host_rows)


Rows = list[tuple[str, dict[str, Any]]]


def _write_generic(
    session: Session, host_rows: list[dict[str, Any]], iface_rows: Rows, attr_rows: Rows
) -> None:
    """executemany INSERTs; the hosts' new ids come back through RETURNING, in input order."""
    conn = session.connection()
    hosts_t = cast(Table, HostRow.__table__)
    returned = conn.execute(
        insert(hosts_t).returning(hosts_t.c.id, hosts_t.c.name, sort_by_parameter_order=True),
        host_rows,
    )
    ids = {name: hid for hid, name in returned}
    if iface_rows:
        conn.execute(
            insert(cast(Table, InterfaceRow.__table__)),
            [{"host_id": ids[h], **values} for h, values in iface_rows],
        )
    if attr_rows:
        conn.execute(
            insert(cast(Table, AttributeRow.__table__)),
            [{"host_id": ids[h], **values} for h, values in attr_rows],
        )


def _write_postgresql(
    session: Session, host_rows: list[dict[str, Any]], iface_rows: Rows, attr_rows: Rows
) -> None:
    """COPY: several times faster than executemany through psycopg for tens of thousands of rows.
    The tables' constraints still apply to every row."""
    raw = session.connection().connection.driver_connection
    assert raw is not None

    def copy(table: str, rows: list[dict[str, Any]]) -> None:
        cols = list(rows[0])
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as out:
            for row in rows:
                out.write_row([row[c] for c in cols])

    import psycopg
    from sqlalchemy.exc import IntegrityError

    try:
        copy("hosts", host_rows)
        batch = [row["name"] for row in host_rows]
        with raw.cursor() as cur:
            cur.execute("SELECT name, id FROM hosts WHERE name = ANY(%s)", (batch,))
            ids = dict(cur.fetchall())
        if iface_rows:
            copy("interfaces", [{"host_id": ids[h], **values} for h, values in iface_rows])
        if attr_rows:
            copy("attributes", [{"host_id": ids[h], **values} for h, values in attr_rows])
    except psycopg.IntegrityError as exc:
        # A concurrent writer got there between our checks and the COPY: report it like any
        # other constraint violation (Inventory.transaction maps these).
        raise IntegrityError("COPY", None, exc) from exc


def _id_index(session: Session, row: Any) -> dict[str, int]:
    return {n: i for n, i in session.execute(select(row.name, row.id))}


def set_attrs_bulk(session: Session, attrs: Sequence[Attribute]) -> int:
    """Create or replace many attributes at any scope (value and secret flag); all or nothing.

    One query per index plus one executemany INSERT and one UPDATE; returns how many were written.
    """
    apps = _id_index(session, ApplianceRow)
    hosts = _id_index(session, HostRow)
    table = cast(Table, AttributeRow.__table__)
    existing: dict[tuple[Any, ...], int] = {}
    for aid, scope, os_name, app_id, hid, rack, name in session.execute(
        select(table.c.id, table.c.scope, table.c.os, table.c.appliance_id, table.c.host_id,
               table.c.rack, table.c.name)
    ):
        existing[(scope, os_name, app_id, hid, rack, name)] = aid
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for attr in attrs:
        scope = Scope(attr.scope)
        check_attr_name(attr.name)
        cols: dict[str, Any] = {"os": None, "appliance_id": None, "host_id": None, "rack": None}
        if scope is Scope.GLOBAL:
            if attr.target:
                raise RocksError.of("bad-target", f"global attribute {attr.name} has a target")
            cols["os"] = ""
        elif not attr.target:
            raise RocksError.of("bad-target", f"{scope} attribute {attr.name} needs a target")
        elif scope is Scope.OS:
            cols["os"] = attr.target
        elif scope is Scope.APPLIANCE:
            if attr.target not in apps:
                raise unknown("appliance", attr.target)
            cols["appliance_id"] = apps[attr.target]
        elif scope is Scope.RACK:
            cols["rack"] = rack_number(attr.target)
        else:
            if attr.target not in hosts:
                raise unknown("host", attr.target)
            cols["host_id"] = hosts[attr.target]
        key = (scope.value, cols["os"], cols["appliance_id"], cols["host_id"], cols["rack"],
               attr.name)
        if key in seen:
            where = f"{scope} {attr.target}".strip()
            raise _dup("duplicate-attr", f"{where} sets {attr.name} twice")
        seen.add(key)
        if key in existing:
            updates.append({"b_id": existing[key], "b_value": attr.value, "b_secret": attr.secret})
        else:
            inserts.append({"name": attr.name, "value": attr.value, "scope": scope.value,
                            "secret": attr.secret, **cols})
    conn = session.connection()
    if inserts:
        conn.execute(insert(table), inserts)
    if updates:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id"))
            .values(value=bindparam("b_value"), secret=bindparam("b_secret")),
            updates,
        )
    session.expire_all()
    return len(inserts) + len(updates)


def replace_hosts_bulk(session: Session, hosts: Sequence[Host]) -> int:
    """Make existing hosts exactly as given: every host field, and their interfaces replaced.

    Interfaces are validated like `add_hosts_bulk`'s; uniqueness against other hosts is left to
    the tables' constraints (callers such as `load hostfile` check it first to name the line).
    """
    if not hosts:
        return 0
    ids = _id_index(session, HostRow)
    apps = _id_index(session, ApplianceRow)
    networks = network_index(session)
    host_updates: list[dict[str, Any]] = []
    iface_rows: list[dict[str, Any]] = []
    for host in hosts:
        if host.name not in ids:
            raise unknown("host", host.name)
        if host.appliance not in apps:
            raise unknown("appliance", host.appliance, hint=f"needed by host {host.name}")
        values = {
            "id": ids[host.name], "appliance_id": apps[host.appliance], "rack": host.rack,
            "rank": host.rank, "os": host.os, "install_action": host.install_action,
            "run_action": host.run_action, "boot": BootState(host.boot).value,
            "comment": host.comment,
        }
        # executemany bind names must differ from the column names they set
        host_updates.append({f"b_{k}": v for k, v in values.items()})
        devices: set[str] = set()
        for iface in host.interfaces:
            checked = check_interface(host.name, iface, networks)
            if checked.device in devices:
                raise _dup("duplicate-interface", f"host {host.name} lists {checked.device} twice")
            devices.add(checked.device)
            iface_rows.append({"host_id": ids[host.name], **checked.values})
    conn = session.connection()
    hosts_t = cast(Table, HostRow.__table__)
    ifaces_t = cast(Table, InterfaceRow.__table__)
    conn.execute(
        update(hosts_t).where(hosts_t.c.id == bindparam("b_id")).values(
            {k[2:]: bindparam(k) for k in host_updates[0] if k != "b_id"}),
        host_updates,
    )
    conn.execute(delete(ifaces_t).where(ifaces_t.c.host_id == bindparam("b_id")),
                 [{"b_id": row["b_id"]} for row in host_updates])
    if iface_rows:
        conn.execute(insert(ifaces_t), iface_rows)
    session.expire_all()
    return len(host_updates)
