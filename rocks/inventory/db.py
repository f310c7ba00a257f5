"""Opening the inventory: where it lives, the engine, migrations on demand, one transaction each.

Startup cost matters (every CLI call opens the inventory), so SQLAlchemy is imported only when a
database is opened and Alembic only when the schema is missing or behind `HEAD_REVISION`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rocks.errors import RocksError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

__all__ = ["Inventory", "Session", "database_url", "open_inventory", "state_dir"]

# The newest migration in rocks/inventory/migrations/versions (a test keeps the two in step).
HEAD_REVISION = "0006"

_MIGRATIONS = Path(__file__).with_name("migrations")


def state_dir() -> Path:
    """`ROCKS_STATE`, else /var/lib/rocks for root, else the XDG state directory."""
    explicit = os.environ.get("ROCKS_STATE")
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/lib/rocks")
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "rocks"


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) and make it 0700, tightening a looser one: the state
    directory holds the inventory, tokens and keys (DESIGN.md §3.11)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file holding secrets 0600 (an older rocks created some 0644)."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass


# Files of a state directory that hold secrets: the inventory (password hashes, install tokens),
# the frontend's tokens, the cluster's SSH key.
SECRET_FILES = ("rocks.db", "rocks.db-wal", "rocks.db-shm", "api-token", "readonly-token")


def private_state(state: Path) -> Path:
    """The state directory 0700 and its secret files 0600 — also those an older rocks made
    0644 — and the SSH key directory 0700 with its private keys 0600."""
    private_dir(state)
    for name in SECRET_FILES:
        private_file(state / name)
    ssh = state / "ssh"
    if ssh.is_dir():
        private_dir(ssh)
        for key in ssh.iterdir():
            if key.is_file() and key.name.startswith("id_") and not key.name.endswith(".pub"):
                private_file(key)
    return state


def _private_sqlite(path: Path) -> None:
    """The SQLite file (and its -wal/-shm, which SQLite creates with the file's mode) 0600; the
    state directory 0700 when the file is in it (never a directory a site chose for itself)."""
    try:
        in_state = path.parent.resolve() == state_dir().resolve()
    except OSError:
        in_state = False
    if in_state:
        private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        private_file(p)


def database_url(url: str | None = None) -> str:
    """The SQLAlchemy URL to use: the argument, `ROCKS_DATABASE_URL`, or `<state>/rocks.db`.

    `postgresql://` and `postgres://` select the psycopg 3 driver; a bare path means SQLite.
    """
    url = url or os.environ.get("ROCKS_DATABASE_URL") or ""
    if not url:
        return f"sqlite:///{state_dir() / 'rocks.db'}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if "://" not in url:
        return f"sqlite:///{Path(url).absolute()}"
    return url


def _sqlite_setup(engine: Engine) -> None:
    """Pragmas on every connection, and our own BEGIN (pysqlite's implicit one is too late)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # autocommit at the driver; "begin" below opens txns
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the lock up front so read-then-write (next_rank, next_ip) cannot race.
        mode = conn.get_execution_options().get("rocks_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Inventory:
    """An open inventory database. Use `transaction()` for all work; `close()` when done."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._reader = engine.execution_options(rocks_begin="DEFERRED")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """A Session that commits if the block succeeds and rolls back on any exception.
        On PostgreSQL a write transaction also rewrites, before it commits, the Kea host
        reservations of the hosts it changed (rocks.dhcpdb.settle).

        Integrity errors the checks in the query functions did not catch first are turned
        into `RocksError`s here.
        """
        from sqlalchemy.exc import IntegrityError
        from sqlalchemy.orm import Session

        from rocks.inventory.validate import integrity_error

        session = Session(bind=self._reader if readonly else self.engine, expire_on_commit=False)
        try:
            yield session
            if not readonly and self.dialect == "postgresql":
                from rocks.dhcpdb import settle

                settle(session)  # the DHCP reservations this change moved, in the same commit
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise integrity_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from sqlalchemy.exc import DBAPIError

    try:
        conn = engine.connect().execution_options(rocks_begin="DEFERRED")
    except DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise RocksError.of(
            "database-unavailable",
            f"cannot open the inventory at {where}: {exc.orig}",
            hint="check ROCKS_DATABASE_URL, or ROCKS_STATE for the default SQLite file",
        ) from exc
    with conn:
        try:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DBAPIError:
            return None  # no version table yet: an empty database
    return str(rev) if rev is not None else None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run Alembic `upgrade` on this engine, programmatically (no alembic.ini)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # A migration must never cascade: foreign keys off while it runs (this pragma is a
            # no-op inside a transaction, so it goes to the driver before SQLAlchemy begins),
            # and checked afterwards.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RocksError.of("schema-broken",
                                        "the migration left rows with broken references")
        except CommandError as exc:
            raise RocksError.of(
                "schema-unknown",
                f"the inventory's schema cannot be upgraded: {exc}",
                hint="the database was written by a newer rocks; upgrade rocks",
            ) from exc
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _load_orm() -> None:
    """Import the ORM classes and queries with the cyclic GC paused: declaring mapped classes
    allocates thousands of long-lived objects, and the collections that triggers roughly
    doubled this import's cost (≈100 → 50 ms measured) while freeing nothing."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        import rocks.inventory.queries  # noqa: F401
    finally:
        if paused:
            gc.enable()


def open_inventory(url: str | None = None) -> Inventory:
    """Open (creating or upgrading if needed) the inventory at `url` or the configured default."""
    _load_orm()
    from sqlalchemy import create_engine

    resolved = database_url(url)
    if resolved.startswith("sqlite"):
        path = resolved.split(":///", 1)[1] if ":///" in resolved else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite(Path(path))
    engine = create_engine(resolved)
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine)
    if schema_revision(engine) != HEAD_REVISION:
        migrate(engine)
    return Inventory(resolved, engine)
