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

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rocks.errors import RocksError
from rocks.inventory.validate import check_name, integrity_error, unknown
from rocks.model.inventory import BootState, Host

BUSY_TIMEOUT_MS = 10000  # how long a writer waits for another's lock (as the ORM engine does)
HOST_COLUMNS = ("name", "appliance", "rack", "rank", "os", "boot", "install_action",
                "run_action", "comment")


class Db:
    """One DB-API connection and its dialect; `?` placeholders in, the driver's style out (so
    the SQL here holds no literal `?` or `%`).

    Made by `connect()` (owns its connection and transaction: use `transaction()`), or by
    `Db.of(session)` (borrows the Session's connection; the Session commits)."""

    def __init__(self, conn: Any, dialect: str, *, flush: Callable[[], object] | None = None,
                 owned: bool = False) -> None:
        self.conn = conn
        self.dialect = dialect
        self.owned = owned
        self._flush = flush

    @classmethod
    def of(cls, source: Any) -> Db:
        """`source` itself if it is a Db, else a Db on an ORM Session's connection (pending
        ORM changes are flushed before each statement, so the SQL sees them)."""
        if isinstance(source, Db):
            return source
        dbapi = source.connection().connection.driver_connection
        return cls(dbapi, source.get_bind().dialect.name, flush=source.flush)

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
    if db is not None and not _current(db):
        db.close()
        return None
    return db


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
