"""The inventory without the ORM: plain SQL over one DB-API connection (sqlite3 or psycopg).

Every `rocks` command is a whole process, and importing SQLAlchemy with the ORM classes costs
more than the work of a hot command (`rocks add host` at 10,000 hosts: ~0.2 s of ~0.3 s of
CPU). The operations here are written once, in SQL both backends accept, and run either

- on a connection of their own (`connect()`): the CLI's fast path, SQLAlchemy never imported;
- on the connection of an ORM Session (`Db.of(session)`), inside its transaction: the ORM
  query modules (`rocks.inventory.hosts`) call these same functions, so each operation has one
  implementation whichever way a caller reached the database.

`connect()` answers None when it cannot serve the database as it is — no database yet, a
schema other than `HEAD_REVISION`, an inventory never seeded, a URL it does not handle, a
server it cannot reach — and the caller then opens the inventory the full way
(`open_inventory()` migrates, and reports connection errors).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocks.errors import RocksError
from rocks.inventory.validate import check_name, integrity_error, unknown
from rocks.model.inventory import (
    SCOPE_PRECEDENCE,
    STATELESS,
    Appliance,
    Attribute,
    BootAction,
    BootChoice,
    BootState,
    Host,
    Interface,
    Network,
    Roll,
    Scope,
)

BUSY_TIMEOUT_MS = 10000  # how long a writer waits for another's lock (as the ORM engine does)
HOST_COLUMNS = ("name", "appliance", "rack", "rank", "os", "boot", "install_action",
                "run_action", "comment")


class Db:
    """One DB-API connection and its dialect; `?` placeholders in, the driver's style out (so
    the SQL here holds no literal `?` or `%`).

    Made by `connect()` (owns its connection and transaction: use `transaction()`), or by
    `Db.of(session)` (borrows the Session's connection; the Session commits)."""

    def __init__(self, conn: Any, dialect: str, *, flush: Callable[[], object] | None = None,
                 owned: bool = False, session: Any = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self.owned = owned
        self._flush = flush
        self.session = session  # the ORM Session this Db borrows from (None: its own)

    @classmethod
    def of(cls, source: Any) -> Db:
        """`source` itself if it is a Db, else a Db on an ORM Session's connection (pending
        ORM changes are flushed before each statement, so the SQL sees them)."""
        if isinstance(source, Db):
            return source
        dbapi = source.connection().connection.driver_connection
        return cls(dbapi, source.get_bind().dialect.name, flush=source.flush, session=source)

    def execute(self, sql: str, params: Sequence[object] = ()) -> Any:
        """Run one statement; a constraint violation becomes the inventory's RocksError."""
        if self._flush is not None:
            self._flush()
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        try:
            return self.conn.execute(sql, tuple(params))
        except Exception as exc:
            if any(c.__name__ == "IntegrityError" for c in type(exc).__mro__):
                raise integrity_error(exc) from exc
            raise

    def executemany(self, sql: str, params: Sequence[Sequence[object]]) -> None:
        """One statement, once per parameter set."""
        if self._flush is not None:
            self._flush()
        if self.dialect == "postgresql":
            sql = sql.replace("?", "%s")
        try:
            if self.dialect == "postgresql":
                with self.conn.cursor() as cur:
                    cur.executemany(sql, [tuple(p) for p in params])
            else:
                self.conn.executemany(sql, [tuple(p) for p in params])
        except Exception as exc:
            if any(c.__name__ == "IntegrityError" for c in type(exc).__mro__):
                raise integrity_error(exc) from exc
            raise

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[object] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[Db]:
        """Commit if the block succeeds, roll back on any exception; close either way."""
        if not self.owned:
            raise RuntimeError("a borrowed connection's transaction belongs to its Session")
        try:
            yield self
            self._end("COMMIT")
        except BaseException:
            self._end("ROLLBACK")
            raise
        finally:
            self.close()

    def _end(self, verb: str) -> None:
        if self.dialect == "sqlite":
            if self.conn.in_transaction:
                self.conn.execute(verb)
        elif verb == "COMMIT":
            self.conn.commit()
        else:
            self.conn.rollback()

    def close(self) -> None:
        if self.owned:
            self.conn.close()


def connect(url: str | None = None) -> Db | None:
    """A write transaction on the inventory at `url` (or the configured default) without
    SQLAlchemy, or None when the full `open_inventory()` is needed (see the module doc)."""
    from rocks.inventory.db import database_url

    resolved = database_url(url)
    if resolved.startswith("sqlite:///"):
        db = _sqlite(resolved[len("sqlite:///"):])
    elif resolved.startswith("postgresql+psycopg://"):
        db = _postgres("postgresql://" + resolved[len("postgresql+psycopg://"):])
    else:
        db = None
    if db is not None and (not _current(db) or _needs_orm(db)):
        db.close()
        return None
    return db


FRONTEND_ATTR = "frontend"  # rocks.inventory.netfacts: the frontend host that serves a host
SERVED = ("Kickstart_PrivateKickstartHost", "Kickstart_FrontendURL", "Kickstart_DistroURL")


def kea_hosts_in_database(settings: Mapping[str, str]) -> bool:
    """Whether Kea's reservations live in the database (the global settings say so)."""
    return (settings.get("sync_dhcp") == "kea"
            and settings.get("sync_kea_hosts", "file") == "database")


def _needs_orm(db: Db) -> bool:
    """Whether the site has what only the ORM code handles: hosts served by other frontends
    (attribute `frontend` or the served facts below global scope: rocks.siteconfig resolves
    them), or Kea's reservations in this database (every write transaction settles them:
    rocks.dhcpdb.settle)."""
    if scoped_attr_exists(db, (FRONTEND_ATTR, *SERVED)):
        return True
    return kea_hosts_in_database(dict(db.rows(
        "SELECT name, value FROM attributes WHERE scope = 'global' AND name IN (?, ?)",
        ("sync_dhcp", "sync_kea_hosts"))))


def scoped_attr_exists(db: Db, names: Sequence[str]) -> bool:
    """Whether any of these attributes is set below global scope."""
    return db.scalar(f"SELECT 1 FROM attributes WHERE scope <> 'global' AND name IN "
                     f"({', '.join('?' * len(names))}) LIMIT 1", tuple(names)) is not None


def _sqlite(path: str) -> Db | None:
    if path in ("", ":memory:") or not Path(path).is_file():
        return None
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The same pragmas as the ORM engine's connections (rocks.inventory.db._sqlite_setup),
        # and the lock taken up front: read-then-write (next_rank) cannot race another writer.
        for pragma in ("journal_mode=WAL", "foreign_keys=ON",
                       f"busy_timeout={BUSY_TIMEOUT_MS}", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        conn.close()
        if "locked" in str(exc):
            raise RocksError.of("database-busy", f"the inventory at {path} stayed locked for "
                                f"{BUSY_TIMEOUT_MS / 1000:g} s", hint="another rocks command "
                                "or the frontend is writing to it; try again") from exc
        return None  # not a database: the full path says what is wrong with it
    return Db(conn, "sqlite", owned=True)


def _postgres(url: str) -> Db | None:
    import psycopg

    try:
        conn = psycopg.connect(url)
    except psycopg.Error:
        return None  # the full path reports it, with the password hidden
    return Db(conn, "postgresql", owned=True)


def _current(db: Db) -> bool:
    """The schema is at HEAD_REVISION and the inventory has been seeded (it has appliances)."""
    from rocks.inventory.db import HEAD_REVISION

    try:
        revision = db.scalar("SELECT version_num FROM alembic_version")
        seeded = db.scalar("SELECT 1 FROM appliances LIMIT 1") is not None
    except Exception:  # no such table (an empty database): the full path creates it
        return False
    return revision == HEAD_REVISION and seeded


# ---------------------------------------------------------------------------- names


def appliance_names(db: Db) -> list[str]:
    return [r[0] for r in db.rows("SELECT name FROM appliances ORDER BY name")]


def network_names(db: Db) -> list[str]:
    return [r[0] for r in db.rows("SELECT name FROM networks ORDER BY name")]


def bootaction_names(db: Db) -> list[str]:
    return [r[0] for r in db.rows("SELECT name FROM boot_actions ORDER BY name")]


def appliance_id(db: Db, name: str) -> int:
    aid = db.scalar("SELECT id FROM appliances WHERE name = ?", (name,))
    if aid is None:
        raise unknown("appliance", name, hint="see `rocks list appliance`, or add it first")
    return int(aid)


# ---------------------------------------------------------------------------- hosts


def check_host_name(db: Db, name: str) -> None:
    """A valid name that is neither an appliance's nor an existing host's."""
    check_name("host", name)
    if db.scalar("SELECT id FROM appliances WHERE name = ?", (name,)) is not None:
        raise RocksError.of(
            "bad-host-name",
            f"host name {name!r} is an appliance name",
            hint="appliance names select all hosts of that appliance; choose another name",
        )
    if db.scalar("SELECT id FROM hosts WHERE name = ?", (name,)) is not None:
        raise RocksError.of(
            "duplicate-host", f"host {name!r} already exists", hint="remove it first"
        )


def add_host(db: Db, host: Host) -> int:
    """Insert `host` (not its interfaces); `host.appliance` must exist. Returns the row id."""
    check_host_name(db, host.name)
    aid = appliance_id(db, host.appliance)
    hid = db.scalar(
        "INSERT INTO hosts (name, appliance_id, rack, rank, os, install_action, run_action,"
        " boot, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (host.name, aid, host.rack, host.rank, host.os, host.install_action, host.run_action,
         BootState(host.boot).value, host.comment),
    )
    return int(hid)


def next_rank(db: Db, appliance: str, rack: int) -> int:
    """One more than the highest rank of `appliance` hosts in `rack` (0 for the first)."""
    top = db.scalar("SELECT max(rank) FROM hosts WHERE appliance_id = ? AND rack = ?",
                    (appliance_id(db, appliance), rack))
    return 0 if top is None else int(top) + 1


def host_table(db: Db) -> list[tuple[Any, ...]]:
    """Every host as a row of HOST_COLUMNS (the appliance by name), sorted by host name."""
    return db.rows(
        "SELECT h.name, a.name, h.rack, h.rank, h.os, h.boot, h.install_action, h.run_action,"
        " h.comment FROM hosts h JOIN appliances a ON a.id = h.appliance_id ORDER BY h.name")


def host_index(db: Db) -> list[tuple[str, int, str]]:
    """(host, rack, appliance) of every host: what host arguments are expanded against."""
    return [(r[0], int(r[1]), r[2]) for r in db.rows(
        "SELECT h.name, h.rack, a.name FROM hosts h JOIN appliances a ON a.id = h.appliance_id")]


def host_by_address(db: Db, word: str) -> str | None:
    """The host a Rocks host argument names by address, as Rocks' getHostname resolved it: an
    IP of one of its interfaces, a MAC, or an FQDN `<name>.<zone>` — the host's (or its
    interface's) name on a network whose zone that is, or on the cluster's DNS domain (an
    explicit global Kickstart_PrivateDNSDomain, else the private network's zone: the rule of
    rocks.inventory.netfacts)."""
    import ipaddress

    from rocks.inventory.validate import normalise_mac

    def owner(column: str, value: str) -> str | None:
        found = db.scalar(f"SELECT h.name FROM hosts h JOIN interfaces i ON i.host_id = h.id "
                          f"WHERE i.{column} = ? ORDER BY h.name LIMIT 1", (value,))
        return None if found is None else str(found)

    try:
        return owner("ip", str(ipaddress.ip_address(word)))
    except ValueError:
        pass
    if len(word) >= 12 and all(c in "0123456789abcdefABCDEF:-." for c in word):
        try:
            return owner("mac", normalise_mac(word))
        except RocksError:
            pass
    label, dot, zone = word.lower().rstrip(".").partition(".")
    if not dot or not label:
        return None  # DNS names are case-insensitive
    for host, ifname, net_zone in db.rows(
            "SELECT h.name, i.name, n.zone FROM hosts h JOIN interfaces i ON i.host_id = h.id "
            "JOIN networks n ON n.id = i.network_id "
            "WHERE lower(h.name) = ? OR lower(i.name) = ? ORDER BY h.name", (label, label)):
        if (ifname or host).lower() == label and (net_zone or "").lower() == zone:
            return str(host)
    named = db.scalar("SELECT name FROM hosts WHERE lower(name) = ? ORDER BY name LIMIT 1",
                      (label,))
    if named is None:
        return None
    domain = db.scalar("SELECT value FROM attributes WHERE scope = 'global' "
                       "AND name = 'Kickstart_PrivateDNSDomain'")
    if not domain:
        nets = db.rows("SELECT name, zone, pxe FROM networks ORDER BY name")
        private = next((n for n in nets if n[0] == "private"), None) or \
            next((n for n in nets if n[2]), None)
        domain = private[1] if private is not None else ""
    return str(named) if domain and str(domain).lower().rstrip(".") == zone else None


# ---------------------------------------------------------------------------- checks


def not_found(kind: str, name: str, known: Iterable[str], listing: str) -> RocksError:
    """`unknown <kind> "<name>"` with the closest known name as the hint (argument checks of
    the CLI and the frontend's write API)."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f'did you mean "{close[0]}"?' if close else f"see `{listing}`"
    return RocksError.of(f"unknown-{kind.replace(' ', '')}", f'unknown {kind} "{name}"', hint=hint)


def need_appliance(s: Any, name: str) -> None:
    known = appliance_names(Db.of(s))
    if name not in known:
        raise not_found("appliance", name, known, "rocks list appliance")


def need_network(s: Any, name: str) -> None:
    known = network_names(Db.of(s))
    if name not in known:
        raise not_found("network", name, known, "rocks list network")


def need_bootaction(s: Any, name: str) -> None:
    known = bootaction_names(Db.of(s))
    if name not in known:
        raise not_found("boot action", name, known, "rocks list bootaction")


# ---------------------------------------------------------------------------- sync inputs
# What `rocks sync` plans from (rocks.siteconfig), read without the ORM: the whole inventory
# for a full plan, and for the incremental plan the host versions and the changed hosts only.


def networks(db: Db) -> list[Network]:
    return [Network(r[0], r[1], r[2], int(r[3]), r[4], bool(r[5]), bool(r[6]), r[7])
            for r in db.rows("SELECT name, subnet, netmask, mtu, zone, servedns, pxe, gateway "
                             "FROM networks ORDER BY name")]


def appliances(db: Db) -> list[Appliance]:
    return [Appliance(r[0], r[1], bool(r[2]), bool(r[3]), r[4])
            for r in db.rows("SELECT name, node, kickstartable, public, graph FROM appliances "
                             "ORDER BY name")]


def bootactions(db: Db) -> list[BootAction]:
    return [BootAction(*r) for r in db.rows(
        "SELECT name, kernel, initrd, args FROM boot_actions ORDER BY name")]


def rolls(db: Db) -> list[Roll]:
    return [Roll(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5])) for r in db.rows(
        "SELECT name, version, arch, os, enabled, trusted FROM rolls "
        "ORDER BY name, version, arch")]


def global_attributes(db: Db) -> list[tuple[str, str, bool]]:
    """(name, value, secret) of every global attribute, by name."""
    return sorted((r[0], r[1], bool(r[2])) for r in db.rows(
        "SELECT name, value, secret FROM attributes WHERE scope = 'global'"))


def attributes_named(db: Db, names: Iterable[str]) -> list[Attribute]:
    """The attributes of any scope with these names, sorted by scope (global first), target
    and name (as rocks.inventory.attrs.list_attrs sorts)."""
    wanted = sorted(set(names))
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        rows += db.rows(
            "SELECT a.name, a.value, a.scope, a.os, ap.name, h.name, a.rack, a.secret "
            "FROM attributes a LEFT JOIN appliances ap ON ap.id = a.appliance_id "
            "LEFT JOIN hosts h ON h.id = a.host_id "
            f"WHERE a.name IN ({', '.join('?' * len(part))})", part)
    out = [Attribute(n, v, Scope(scope), os_ or app or host or ("" if rack is None else str(rack)),
                     bool(secret)) for n, v, scope, os_, app, host, rack, secret in rows]
    order = {s: i for i, s in enumerate(SCOPE_PRECEDENCE)}
    return sorted(out, key=lambda a: (order[a.scope], a.target, a.name))


def frontend_interfaces(db: Db) -> list[tuple[str, str, str, str, str]]:
    """(host, device, ip, network, name) of the frontend-appliance hosts' addressed
    interfaces (what rocks.inventory.netfacts derives the frontend's facts from)."""
    return [(r[0], r[1], r[2], r[3], r[4] or "") for r in db.rows(
        "SELECT h.name, i.device, i.ip, n.name, i.name FROM interfaces i "
        "JOIN hosts h ON h.id = i.host_id JOIN appliances a ON a.id = h.appliance_id "
        "JOIN networks n ON n.id = i.network_id "
        "WHERE a.name = 'frontend' AND i.ip IS NOT NULL") if r[2]]


def attribute_values(db: Db, name: str) -> set[str]:
    """Every value attribute `name` has, at any scope."""
    return {r[0] for r in db.rows("SELECT value FROM attributes WHERE name = ?", (name,))}


def frontend_owner(db: Db, ip: str) -> str | None:
    """The first (by name) frontend-appliance host with an interface at `ip`."""
    return min((r[0] for r in db.rows(
        "SELECT h.name FROM hosts h JOIN appliances a ON a.id = h.appliance_id "
        "JOIN interfaces i ON i.host_id = h.id WHERE a.name = 'frontend' AND i.ip = ?",
        (ip,))), default=None)


_HOSTS_SQL = ("SELECT h.id, h.name, a.name, h.rack, h.rank, h.os, h.install_action, "
              "h.run_action, h.boot, h.comment, h.install_token "
              "FROM hosts h JOIN appliances a ON a.id = h.appliance_id")
_IFACES_SQL = ("SELECT i.host_id, i.device, i.mac, i.ip, n.name, i.name, i.module, i.vlan, "
               "i.options, i.default_gateway, i.bmc FROM interfaces i "
               "LEFT JOIN networks n ON n.id = i.network_id")


def hosts_by_id(db: Db, ids: Iterable[int] | None = None) -> list[tuple[int, Host, str | None]]:
    """(id, host with its interfaces, install token) of every host, or of those `ids` that
    exist, sorted by name (interfaces by device)."""
    if ids is None:
        hrows = db.rows(_HOSTS_SQL)
        irows = db.rows(_IFACES_SQL)
    else:
        wanted = sorted(set(ids))
        hrows, irows = [], []
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            marks = ", ".join("?" * len(part))
            hrows += db.rows(f"{_HOSTS_SQL} WHERE h.id IN ({marks})", part)
            irows += db.rows(f"{_IFACES_SQL} WHERE i.host_id IN ({marks})", part)
    names = {r[0]: r[1] for r in hrows}
    by_host: dict[int, list[Interface]] = {}
    for hid, dev, mac, ip, net, name, module, vlan, options, gw, bmc in irows:
        host = names.get(hid)
        if host is not None:
            by_host.setdefault(hid, []).append(Interface(
                host, dev, mac or "", ip or "", net or "", name, module, vlan, options,
                bool(gw), bmc or ""))
    out = []
    for hid, name, app, rack, rank, os_, install, run, boot, comment, token in hrows:
        ifaces = by_host.get(hid, [])
        if len(ifaces) > 1:
            ifaces.sort(key=lambda i: i.device)
        out.append((hid, Host(name, app, rack, rank, os_, install, run, BootState(boot),
                              comment, tuple(ifaces)), token))
    out.sort(key=lambda r: r[1].name)
    return out


def install_tokens(db: Db) -> dict[str, str]:
    """Host name -> its current install token (hosts not installing are absent)."""
    return {n: t for n, t in db.rows(
        "SELECT name, install_token FROM hosts WHERE install_token IS NOT NULL") if t}


def host_versions(db: Db) -> dict[int, int]:
    """Host id -> the version the inventory's triggers keep (migration 0006)."""
    return dict(db.rows("SELECT host_id, version FROM host_versions"))


def versions_of(db: Db, ids: Iterable[int]) -> dict[int, int]:
    wanted = sorted(set(ids))
    out: dict[int, int] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        out.update(db.rows(f"SELECT host_id, version FROM host_versions WHERE host_id IN "
                           f"({', '.join('?' * len(part))})", part))
    return out


def version_sums(db: Db) -> tuple[int, int, int]:
    """(count, sum of the low 32 bits, sum of the high bits) of every host version: moves
    when any version does (versions are random), at the cost of one scan in the database."""
    row = db.execute("SELECT count(*), coalesce(sum(version & 4294967295), 0), "
                     "coalesce(sum(version >> 32), 0) FROM host_versions").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


TRACKING_TRIGGERS = {"sqlite": 9, "postgresql": 3}


def tracks_versions(db: Db) -> bool:
    """Whether the triggers that keep host versions are all there (a database restored
    without them, or rebuilt by a later migration that forgot them, is planned in full)."""
    if db.dialect == "postgresql":
        found = db.scalar("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
                          "AND tgname LIKE ?", ("rocks_version_%",))
    else:
        found = db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                          "AND name LIKE ?", ("rocks_version_%",))
    return int(found or 0) == TRACKING_TRIGGERS.get(db.dialect, -1)


def others_claim(db: Db, ids: Sequence[int], ips: Iterable[str], macs: Iterable[str]) -> bool:
    """Whether an interface of a host outside `ids` has one of these addresses (on any
    network) or MACs: then who keeps it is a question for the full plan."""
    ips, macs = sorted(set(ips)), sorted(set(macs))
    skip = ", ".join("?" * len(ids)) or "NULL"
    for column, values in (("ip", ips), ("mac", macs)):
        for i in range(0, len(values), 400):
            part = values[i:i + 400]
            if db.scalar(f"SELECT 1 FROM interfaces WHERE {column} IN "
                         f"({', '.join('?' * len(part))}) AND host_id NOT IN ({skip}) LIMIT 1",
                         [*part, *ids]) is not None:
                return True
    return False


# ---------------------------------------------------------------------------- interfaces
# One implementation of adding, changing and removing interfaces: the CLI's fast path runs it
# on its own connection, rocks.inventory.hosts on an ORM Session's.


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
    from rocks.inventory.validate import normalise_mac, parse_ip
    from rocks.model.inventory import BMC_PROTOCOLS

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


def network_index(db: Db, names: Iterable[str] | None = None) -> dict[str, tuple[int, Any]]:
    """Network name → (id, parsed network), of every network or of `names` (an unknown name
    is an error)."""
    from rocks.inventory.validate import parse_network

    rows = db.rows("SELECT id, name, subnet, netmask FROM networks")
    out = {name: (nid, parse_network(name, sub, mask)) for nid, name, sub, mask in rows
           if names is None or name in names}
    for name in names or ():
        if name not in out:
            raise unknown("network", name, hint="see `rocks list network`, or add it first")
    return out


def host_id(db: Db, name: str) -> int:
    hid = db.scalar("SELECT id FROM hosts WHERE name = ?", (name,))
    if hid is None:
        raise unknown("host", name)
    return int(hid)


def _owner_of(db: Db, where: str, params: Sequence[object]) -> tuple[str, str] | None:
    row = db.execute("SELECT h.name, i.device FROM interfaces i JOIN hosts h ON h.id = i.host_id "
                     f"WHERE {where} LIMIT 1", params).fetchone()
    return (row[0], row[1]) if row else None


def _clashes(db: Db, host: str, hid: int, checked: CheckedInterface, network: str,
             *, other_than: int | None, device_changed: bool) -> None:
    """Refuse a device, MAC or address another interface already has."""
    skip, extra = ("", ()) if other_than is None else (" AND i.id <> ?", (other_than,))
    if device_changed and _owner_of(db, "i.host_id = ? AND i.device = ?" + skip,
                                    (hid, checked.device, *extra)):
        raise RocksError.of(
            "duplicate-interface",
            f"host {host} already has an interface {checked.device}",
            hint="remove it first, or use `rocks set host interface …`" if other_than is None
            else "choose another device name, or remove that interface first",
        )
    if checked.mac and (clash := _owner_of(db, "i.mac = ?" + skip, (checked.mac, *extra))):
        raise RocksError.of(
            "duplicate-mac",
            f"MAC {checked.mac} for host {host} is already used by {clash[0]} {clash[1]}",
            hint="each MAC address belongs to one interface",
        )
    if checked.ip and checked.network_id is not None:
        clash = _owner_of(db, "i.network_id = ? AND i.ip = ?" + skip,
                          (checked.network_id, checked.ip, *extra))
        if clash:
            raise RocksError.of(
                "duplicate-ip",
                f"IP {checked.ip} for host {host} on network {network} is already "
                f"used by {clash[0]} {clash[1]}",
                hint="see `rocks report nextip` for a free address",
            )


def _interface(host: str, values: dict[str, Any], network: str) -> Interface:
    return Interface(host, values["device"], values["mac"] or "", values["ip"] or "", network,
                     values["name"], values["module"], values["vlan"], values["options"],
                     bool(values["default_gateway"]), values["bmc"] or "")


_IFACE_COLUMNS = ("device", "mac", "ip", "network_id", "name", "module", "vlan", "options",
                  "default_gateway", "bmc")


def add_interface(db: Db, iface: Interface) -> Interface:
    """Add an interface to `iface.host`, refusing duplicate MACs, addresses and devices."""
    hid = host_id(db, iface.host)
    networks = network_index(db, [iface.network] if iface.network else [])
    checked = check_interface(iface.host, iface, networks)
    _clashes(db, iface.host, hid, checked, iface.network, other_than=None, device_changed=True)
    db.execute(f"INSERT INTO interfaces (host_id, {', '.join(_IFACE_COLUMNS)}) "
               f"VALUES (?, {', '.join('?' * len(_IFACE_COLUMNS))})",
               (hid, *(checked.values[c] for c in _IFACE_COLUMNS)))
    return _interface(iface.host, checked.values, iface.network)


def remove_interface(db: Db, host: str, device: str) -> None:
    hid = host_id(db, host)
    if db.execute("DELETE FROM interfaces WHERE host_id = ? AND device = ?",
                  (hid, device)).rowcount < 1:
        raise RocksError.of("unknown-interface", f"host {host} has no interface {device}",
                            hint=f"see `rocks list host interface {host}`")


UNSET: Any = object()


def update_interface(
    db: Db, host: str, device: str, *, new_device: str | None = None, mac: str | None = None,
    ip: str | None = None, network: str | None = None, module: str | None = None,
    vlan: int | None = UNSET, options: str | None = None, bmc: str | None = None,
) -> Interface:
    """Change fields of `host`'s interface `device` (None leaves a field; "" clears mac, ip,
    network; vlan=None clears it) with the same checks as `add_interface`."""
    hid = host_id(db, host)
    row = db.execute(
        "SELECT i.id, i.mac, i.ip, n.name, i.name, i.module, i.vlan, i.options, "
        "i.default_gateway, i.bmc FROM interfaces i LEFT JOIN networks n ON n.id = i.network_id "
        "WHERE i.host_id = ? AND i.device = ?", (hid, device)).fetchone()
    if row is None:
        raise RocksError.of(
            "unknown-interface", f"host {host} has no interface {device}",
            hint=f"see `rocks list host interface {host}`")
    iid, cur_mac, cur_ip, cur_net, name, cur_module, cur_vlan, cur_options, gw, cur_bmc = row
    wanted = Interface(
        host=host,
        device=device if new_device is None else new_device,
        mac=(cur_mac or "") if mac is None else mac,
        ip=(cur_ip or "") if ip is None else ip,
        network=(cur_net or "") if network is None else network,
        name=name,
        module=cur_module if module is None else module,
        vlan=cur_vlan if vlan is UNSET else vlan,
        options=cur_options if options is None else options,
        default_gateway=bool(gw),
        bmc=(cur_bmc or "") if bmc is None else bmc,
    )
    networks = network_index(db, [wanted.network] if wanted.network else [])
    checked = check_interface(host, wanted, networks)
    _clashes(db, host, hid, checked, wanted.network, other_than=int(iid),
             device_changed=checked.device != device)
    db.execute(f"UPDATE interfaces SET {', '.join(f'{c} = ?' for c in _IFACE_COLUMNS)} "
               "WHERE id = ?", (*(checked.values[c] for c in _IFACE_COLUMNS), iid))
    return _interface(host, checked.values, wanted.network)


# ---------------------------------------------------------------------------- boot state


def host_ids(db: Db, names: Sequence[str]) -> dict[str, int]:
    """Host name → id for every name (an unknown name is an error)."""
    found: dict[str, int] = {}
    wanted = list(dict.fromkeys(names))
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        found.update((n, int(h)) for n, h in db.rows(
            f"SELECT name, id FROM hosts WHERE name IN ({', '.join('?' * len(part))})", part))
    missing = [n for n in wanted if n not in found]
    if missing:
        raise unknown("host", ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
    return found


def set_boot(db: Db, names: Sequence[str], action: BootState | BootChoice | str, *,
             now: Any = None) -> dict[str, str]:
    """Set the hosts' boot action. install: each host gets a fresh one-time token (returned by
    host); os: tokens are spent; stateless: boot state os with run action `stateless`, each
    host a fresh token (its identity when its image fetches the host's state). Leaving
    stateless (install, os) sets the run action back to os. A statement or two (executed
    once per host for tokens), whatever the number of hosts."""
    from base64 import urlsafe_b64encode
    from datetime import UTC, datetime

    choice = BootChoice(action)
    ids = host_ids(db, names)
    parts = [list(ids.values())[i:i + 500] for i in range(0, len(ids), 500)]
    if choice is not BootChoice.STATELESS:
        for part in parts:  # leaving stateless: the disk again
            db.execute(f"UPDATE hosts SET run_action = 'os' WHERE run_action = '{STATELESS}' "
                       f"AND id IN ({', '.join('?' * len(part))})", part)
    if choice is BootChoice.OS:
        for part in parts:
            db.execute(f"UPDATE hosts SET boot = 'os', install_token = NULL "
                       f"WHERE id IN ({', '.join('?' * len(part))})", part)
        return {}
    # secrets.token_urlsafe(24), without importing secrets (hmac, OpenSSL) for it
    tokens = {name: urlsafe_b64encode(os.urandom(24)).rstrip(b"=").decode() for name in ids}
    if not ids:
        return tokens
    if choice is BootChoice.STATELESS:
        db.executemany(f"UPDATE hosts SET boot = 'os', run_action = '{STATELESS}', "
                       "install_token = ?, install_started = NULL WHERE id = ?",
                       [(tokens[n], ids[n]) for n in ids])
        return tokens
    when = (now or datetime.now(UTC)).astimezone(UTC)
    # as rocks.inventory.schema.UTCDateTime stores it: naive UTC text on SQLite
    started: object = (when if db.dialect == "postgresql" else
                       f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond:06d}")
    db.executemany("UPDATE hosts SET boot = 'install', install_token = ?, "
                   "install_started = ? WHERE id = ?",
                   [(tokens[n], started, ids[n]) for n in ids])
    return tokens


def interfaces_of(db: Db, host: str) -> list[Interface]:
    """The host's interfaces, by device."""
    hid = host_id(db, host)
    return sorted((Interface(host, r[0], r[1] or "", r[2] or "", r[3] or "", r[4], r[5], r[6],
                             r[7], bool(r[8]), r[9] or "") for r in db.rows(
        "SELECT i.device, i.mac, i.ip, n.name, i.name, i.module, i.vlan, i.options, "
        "i.default_gateway, i.bmc FROM interfaces i LEFT JOIN networks n "
        "ON n.id = i.network_id WHERE i.host_id = ?", (hid,))), key=lambda i: i.device)


def hosts_with_interface(db: Db, hosts: Sequence[str], device: str) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(hosts), 500):
        part = list(hosts[i:i + 500])
        out.update(r[0] for r in db.rows(
            "SELECT h.name FROM hosts h JOIN interfaces i ON i.host_id = h.id "
            f"WHERE i.device = ? AND h.name IN ({', '.join('?' * len(part))})",
            (device, *part)))
    return out


def existing_hosts(db: Db, names: Sequence[str]) -> set[str]:
    """Which of `names` are hosts."""
    out: set[str] = set()
    wanted = list(dict.fromkeys(names))
    for i in range(0, len(wanted), 500):
        part = wanted[i:i + 500]
        out.update(r[0] for r in db.rows(
            f"SELECT name FROM hosts WHERE name IN ({', '.join('?' * len(part))})", part))
    return out
