"""DHCP reservations from the database: Kea's PostgreSQL host backend, in the inventory's own
database, written in the transaction of the host change that moves them.

With `sync_dhcp=kea` and `sync_kea_hosts=database` (global attributes) the reservations leave
kea-dhcp4.conf: it names the database instead (`"hosts-database"`), and Kea looks each client
up there when it asks, so adding, changing or removing a host rewrites no file and reloads
nothing. Kea's tables live in their own schema, `kea`, of the inventory's database (Kea's
`hosts` would clash with ours): `kea-admin db-init pgsql` creates them there, and Kea connects
as its own role whose search_path is that schema (read-only: it only reads reservations).
Being one database, a host change and its reservations commit together or not at all.

Which hosts need new reservations is recorded by PostgreSQL triggers (migration 0005: a
changed interface, a renamed or moved host, a `frontend` attribute, a changed network) in
`dhcp_pending`; `settle()` runs before every write transaction of the inventory commits
(rocks.inventory.db), empties it and rewrites those hosts' rows from the same
`rocks.sync.dhcp_kea.reservations` the file is written from. `rocks sync config` writes the
static configuration, sets the schema up once (`prepare`) and reconciles every row
(`reconcile`). ISC dhcpd keeps its file. A path that bypasses the inventory's ORM
transactions (psql by hand, a plain-SQL command of rocks.inventory.core) leaves its rows
pending: the next write transaction settles them — a running frontend's heartbeat is one,
every 5 s — and so does `rocks sync config`.

Rows rocks writes carry `user_context` `{"rocks-host-id": N}`, indexed, so they are found by
host even after the host is gone; rows others put into Kea's table are left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from rocks.inventory.core import Db
    from rocks.sync.dhcp_kea import Reservation
    from rocks.sync.inputs import SyncInput

SCHEMA = "kea"
DEFAULT_ROLE = "kea"
HW_ADDRESS = 0  # Kea's dhcp_identifier_type of a MAC
OWNER = '{"rocks-host-id": %d}'
OWNED = '{"rocks-host-id": %'  # LIKE pattern of every row rocks owns
HINT = ("keep the reservations in kea-dhcp4.conf (rocks set attr sync_kea_hosts file), or "
        "put the inventory in PostgreSQL (ROCKS_DATABASE_URL)")


def in_database(settings: dict[str, str]) -> bool:
    """Whether Kea's reservations live in the database (the global settings say so)."""
    from rocks.inventory.core import kea_hosts_in_database

    return kea_hosts_in_database(settings)


@dataclass(frozen=True, slots=True)
class PgUrl:
    user: str
    password: str
    host: str  # a name, an address, or a socket directory
    port: int
    dbname: str


def parse_url(url: str) -> PgUrl:
    """A postgresql:// URL (any driver suffix), with a socket directory as `?host=`."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    if parts.scheme not in ("postgresql", "postgres"):
        raise RocksError.of("kea-hosts-needs-postgresql",
                            "Kea's host reservations in the database need the inventory in "
                            "PostgreSQL", hint=HINT)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    port = query.get("port", [str(parts.port or "")])[0]
    return PgUrl(unquote(parts.username or ""), unquote(parts.password or ""), host,
                 int(port) if port.isdigit() else 0, parts.path.lstrip("/"))


def _inventory_url(s: Session) -> PgUrl:
    bind: Any = s.get_bind()
    if bind.dialect.name != "postgresql":
        raise RocksError.of("kea-hosts-needs-postgresql",
                            "sync_kea_hosts=database: the inventory is not in PostgreSQL",
                            hint=HINT)
    url = parse_url(bind.url.render_as_string(hide_password=False))
    return PgUrl(url.user, url.password, url.host or "localhost", url.port or 5432, url.dbname)


def kea_url(s: Session, settings: dict[str, str]) -> PgUrl:
    """How Kea reaches the inventory's database: `sync_kea_database` (a postgresql:// URL; the
    database must be the inventory's; host and port default to the inventory's, a socket
    directory is `?host=/run/postgresql`) else the inventory's URL as role `kea`."""
    inv = _inventory_url(s)
    given = settings.get("sync_kea_database", "").strip()
    if not given:
        return PgUrl(DEFAULT_ROLE, "", inv.host, inv.port, inv.dbname)
    url = parse_url(given)
    if url.dbname and url.dbname != inv.dbname:
        raise RocksError.of("kea-hosts-other-database",
                            f"sync_kea_database names database {url.dbname!r}; the inventory is "
                            f"{inv.dbname!r}", hint="Kea must read the inventory's own database "
                            "(its schema kea): one transaction writes hosts and reservations")
    user = url.user or DEFAULT_ROLE
    if user == inv.user:
        raise RocksError.of("kea-hosts-same-role",
                            f"sync_kea_database: Kea's role {user!r} is the inventory's own",
                            hint="Kea connects as its own role (its search_path is schema kea)")
    return PgUrl(user, url.password, url.host or inv.host, url.port or inv.port, inv.dbname)


def kea_database(s: Session, settings: dict[str, str]) -> dict[str, object]:
    """Kea's "hosts-database" map for kea-dhcp4.conf."""
    url = kea_url(s, settings)
    out: dict[str, object] = {"type": "postgresql", "name": url.dbname, "host": url.host,
                              "port": url.port, "user": url.user, "readonly": True}
    if url.password:
        out["password"] = url.password
    return out


# ------------------------------------------------------------------------ set-up (sync config)


def prepare(s: Session, settings: dict[str, str]) -> list[str]:
    """Kea's schema and role, once: `kea-admin db-init pgsql` into schema kea, Kea's role with
    that search_path and read access, and rocks' index on the rows it owns. Runs on a
    connection of its own (kea-admin must see the schema committed); idempotent. Returns what
    it did, for the user."""
    import psycopg

    inv = _inventory_url(s)
    kea = kea_url(s, settings)
    done: list[str] = []
    conninfo: dict[str, Any] = dict(user=inv.user, password=inv.password, host=inv.host,
                                    port=inv.port, dbname=inv.dbname)
    try:
        conn = psycopg.connect(autocommit=True, **{k: v for k, v in conninfo.items() if v})
    except psycopg.Error as exc:
        raise RocksError.of("database-unavailable", f"cannot reach the inventory: {exc}") from exc
    with conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        if conn.execute(f"SELECT to_regclass('{SCHEMA}.schema_version')").fetchone() == (None,):
            _kea_admin_init(inv)
            done.append(f"Kea's tables created in schema {SCHEMA} (kea-admin db-init pgsql)")
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (kea.user,)).fetchone() \
                is None:
            try:
                conn.execute(f'CREATE ROLE "{kea.user}" LOGIN' + (
                    " PASSWORD %s" if kea.password else ""),
                    (kea.password,) if kea.password else None)
            except psycopg.Error as exc:
                raise RocksError.of(
                    "kea-role", f"cannot create Kea's database role {kea.user!r}: "
                    f"{str(exc).strip()}",
                    hint=f'as a database superuser: CREATE ROLE "{kea.user}" LOGIN; ALTER ROLE '
                    f'"{kea.user}" IN DATABASE "{inv.dbname}" SET search_path = {SCHEMA}'
                ) from exc
            done.append(f"database role {kea.user} created for Kea")
        setting = f"search_path={SCHEMA}"
        has = conn.execute(
            "SELECT 1 FROM pg_db_role_setting d JOIN pg_roles r ON r.oid = d.setrole "
            "JOIN pg_database b ON b.oid = d.setdatabase WHERE r.rolname = %s "
            "AND b.datname = current_database() AND %s = ANY(d.setconfig)",
            (kea.user, setting)).fetchone()
        if has is None:
            try:
                conn.execute(f'ALTER ROLE "{kea.user}" IN DATABASE "{inv.dbname}" '
                             f"SET search_path = {SCHEMA}")
            except psycopg.Error as exc:
                raise RocksError.of(
                    "kea-role", f"cannot set Kea's role's search_path: {str(exc).strip()}",
                    hint=f'as a database superuser: ALTER ROLE "{kea.user}" IN DATABASE '
                    f'"{inv.dbname}" SET search_path = {SCHEMA}') from exc
        conn.execute(f'GRANT USAGE ON SCHEMA {SCHEMA} TO "{kea.user}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO "{kea.user}"')
        conn.execute(f"CREATE INDEX IF NOT EXISTS rocks_owner ON {SCHEMA}.hosts (user_context)")
    return done


def _kea_admin_init(inv: PgUrl) -> None:
    exe = shutil.which("kea-admin") or ("/usr/sbin/kea-admin"
                                        if os.path.exists("/usr/sbin/kea-admin") else None)
    if exe is None:
        raise RocksError.of("kea-admin-missing", "kea-admin is not installed",
                            hint="apt-get install kea-admin (EL: dnf install kea)")
    argv = [exe, "db-init", "pgsql", "-n", inv.dbname, "-h", inv.host, "-P", str(inv.port)]
    if inv.user:
        argv += ["-u", inv.user]
    env = {**os.environ, "PGOPTIONS": f"-c search_path={SCHEMA}"}  # its tables go to kea
    if inv.password:
        env["PGPASSWORD"] = inv.password
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr + proc.stdout).strip().splitlines()[-8:])
        raise RocksError.of("kea-admin-failed",
                            f"kea-admin db-init pgsql failed (exit {proc.returncode}):\n{tail}")


# ------------------------------------------------------------------------ the rows


def _rows(reservations: Iterable[Reservation], ids: dict[str, int]
          ) -> set[tuple[bytes, int, int, str, int | None, str]]:
    """Kea hosts rows (identifier, subnet id, address, host name, next-server, owner)."""
    out = set()
    for r in reservations:
        hid = ids.get(r.host)
        if hid is None:
            continue
        nxt = _ip_int(r.next_server) if r.next_server else None
        out.add((bytes.fromhex(r.mac.replace(":", "")), r.subnet_id, r.ip_int, r.hostname,
                 nxt, OWNER % hid))
    return out


def _ip_int(ip: str) -> int:
    import socket

    return int.from_bytes(socket.inet_aton(ip), "big")


def _write(db: Db, want: set[tuple[bytes, int, int, str, int | None, str]],
           owners: list[str] | None) -> tuple[int, int]:
    """Make Kea's rows of `owners` (None: every row rocks owns) equal `want`; returns
    (inserted, deleted). Only differences are written."""
    cols = ("dhcp_identifier, dhcp4_subnet_id, ipv4_address, hostname, dhcp4_next_server, "
            "user_context")
    if owners is None:
        have_rows = db.rows(f"SELECT host_id, {cols} FROM {SCHEMA}.hosts "
                            "WHERE user_context LIKE ?", (OWNED,))
    elif owners:
        have_rows = db.rows(f"SELECT host_id, {cols} FROM {SCHEMA}.hosts "
                            "WHERE user_context = ANY(?)", (owners,))
    else:
        have_rows = []
    have = {(bytes(r[1]), int(r[2]), int(r[3]), r[4], r[5], r[6]): int(r[0]) for r in have_rows}
    gone = [kid for key, kid in have.items() if key not in want]
    new = [row for row in want if row not in have]
    if gone:
        db.execute(f"DELETE FROM {SCHEMA}.hosts WHERE host_id = ANY(?)", (gone,))
    if new:
        cur = db.conn.cursor()
        cur.executemany(
            f"INSERT INTO {SCHEMA}.hosts (dhcp_identifier, dhcp_identifier_type, "
            "dhcp4_subnet_id, ipv4_address, hostname, dhcp4_next_server, user_context) "
            "VALUES (%s, 0, %s, %s, %s, %s, %s)", sorted(new, key=lambda r: r[5]))
    return len(new), len(gone)


def ready(db: Db) -> bool:
    """Kea's schema is set up in this database (by `rocks sync config`)."""
    return db.scalar(f"SELECT to_regclass('{SCHEMA}.hosts')::text") is not None


def reconcile(s: Session, inp: SyncInput) -> tuple[int, int]:
    """Every reservation rocks owns, from the full sync input (`rocks sync config`)."""
    from rocks.inventory.core import Db
    from rocks.inventory.names import host_ids
    from rocks.sync.dhcp_kea import reservations
    from rocks.sync.site import build_site

    db = Db.of(s)
    s.execute(_text("DELETE FROM dhcp_pending"))  # everything is settled below
    return _write(db, _rows(reservations(build_site(inp)), host_ids(s)), None)


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def settle(s: Session) -> int:
    """Before a write transaction commits (PostgreSQL): rewrite the reservations of the hosts
    it changed, when Kea's reservations live in the database. Returns the rows written."""
    from rocks.inventory.core import Db

    db = Db.of(s)
    pending = db.rows("DELETE FROM dhcp_pending RETURNING host_id")
    if not pending:
        return 0
    settings = dict(db.rows("SELECT name, value FROM attributes WHERE scope = 'global' AND "
                            "name IN ('sync_dhcp', 'sync_kea_hosts')"))
    if not in_database(settings) or not ready(db):
        return 0  # `rocks sync config` sets the schema up and writes every row
    ids = {r[0] for r in pending}
    frontends = {r[0] for r in db.rows(
        "SELECT h.id FROM hosts h JOIN appliances a ON a.id = h.appliance_id "
        "WHERE a.name = 'frontend'")}
    if None in ids or ids & frontends:  # a network, or a frontend's address: every host
        return sum(_settle(s, db, None))
    return sum(_settle(s, db, sorted(i for i in ids if i is not None)))


def _settle(s: Session, db: Db, ids: list[int] | None) -> tuple[int, int]:
    from rocks.inventory import queries as q
    from rocks.inventory.names import host_ids
    from rocks.inventory.netfacts import resolve_global
    from rocks.siteconfig import head_frontend, host_frontends
    from rocks.sync.dhcp_kea import reservations
    from rocks.sync.inputs import SyncInput
    from rocks.sync.site import build_site

    names = host_ids(s, ids)
    wanted = None if ids is None else sorted(names)
    hosts = tuple(q.list_hosts(s, wanted)) if wanted is None or wanted else ()
    g = resolve_global(s).values
    head = head_frontend(g, hosts)
    inp = SyncInput(head, tuple(q.list_networks(s)), tuple(q.list_appliances(s)), hosts, (),
                    host_frontends=host_frontends(s, head, wanted) if hosts else {})
    rows = _rows(reservations(build_site(inp)), names)
    owners = None if ids is None else [OWNER % i for i in ids]
    return _write(db, rows, owners)
