"""The inventory without the ORM (rocks.inventory.core), on SQLite and PostgreSQL: when it serves
a database, that its writes are the ORM's (one implementation), that each use is one
transaction, and that the hot commands never import SQLAlchemy."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rocks.cli.context import default_factories
from rocks.commands import Context
from rocks.errors import RocksError
from rocks.inventory import Inventory, core, open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Host

REPO = Path(__file__).resolve().parents[2]


def fast(inv: Inventory) -> core.Db:
    db = core.connect(inv.url)
    assert db is not None, "the fast path refused a current, seeded inventory"
    return db


def test_refuses_what_only_the_full_open_can_handle(tmp_path: Path, inv: Inventory) -> None:
    assert core.connect(str(tmp_path / "missing" / "rocks.db")) is None
    assert not (tmp_path / "missing").exists()  # and creates nothing
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert core.connect(str(empty)) is None  # no schema yet
    assert core.connect(inv.url) is None  # migrated, never seeded
    assert core.connect("sqlite://") is None  # in memory: nothing to share
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, but a file of that name" * 100)
    assert core.connect(str(garbage)) is None  # the full path says what is wrong with it


def test_refuses_a_schema_other_than_head(tmp_path: Path) -> None:
    url = str(tmp_path / "rocks.db")
    inv = open_inventory(url)
    with inv.transaction() as s:
        q.seed_defaults(s, [Appliance("compute", "compute")])
    inv.close()
    db = core.connect(url)
    assert db is not None
    db.close()  # its transaction rolls back: the lock is free again
    import sqlite3

    with sqlite3.connect(url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert core.connect(url) is None


def test_fast_writes_are_the_orms(cluster: Inventory) -> None:
    with fast(cluster).transaction() as db:
        assert core.appliance_names(db) == ["compute", "frontend"]
        assert core.network_names(db) == ["ipmi", "private"]
        assert core.next_rank(db, "compute", 3) == 0
        core.add_host(db, Host("compute-3-0", "compute", 3, 0, comment="fast"))
        assert core.next_rank(db, "compute", 3) == 1
    with cluster.transaction() as s:
        q.add_host(s, Host("compute-3-1", "compute", 3, 1))
        assert q.next_rank(s, "compute", 3) == 2
        assert q.get_host(s, "compute-3-0") == Host("compute-3-0", "compute", 3, 0,
                                                      comment="fast")
    with fast(cluster).transaction() as db:
        assert core.host_table(db) == [
            ("compute-3-0", "compute", 3, 0, "linux", "os", "install", "os", "fast"),
            ("compute-3-1", "compute", 3, 1, "linux", "os", "install", "os", ""),
        ]
        assert sorted(core.host_index(db)) == [("compute-3-0", 3, "compute"),
                                               ("compute-3-1", 3, "compute")]


def test_a_failed_transaction_writes_nothing(cluster: Inventory) -> None:
    with pytest.raises(RocksError) as err, fast(cluster).transaction() as db:
        core.add_host(db, Host("compute-0-0", "compute"))
        core.add_host(db, Host("compute-0-0", "compute"))
    assert err.value.first.code == "duplicate-host"
    with fast(cluster).transaction() as db:
        assert core.host_table(db) == []


@pytest.mark.parametrize(("host", "code"), [
    (Host("frontend", "compute"), "bad-host-name"),  # an appliance's name
    (Host("a.b", "compute"), "bad-host-name"),
    (Host("x", "nosuch"), "unknown-appliance"),
])
def test_checks_name_the_problem(cluster: Inventory, host: Host, code: str) -> None:
    with pytest.raises(RocksError) as err, fast(cluster).transaction() as db:
        core.add_host(db, host)
    assert err.value.first.code == code


def test_a_constraint_the_checks_missed_is_the_inventorys_error(cluster: Inventory) -> None:
    """The driver's own IntegrityError (either backend) becomes the coded RocksError."""
    with pytest.raises(RocksError) as err, fast(cluster).transaction() as db:
        core.add_host(db, Host("compute-0-0", "compute"))
        db.execute("INSERT INTO hosts (name, appliance_id, rack, rank, os, install_action,"
                   " run_action, boot, comment) SELECT name, appliance_id, rack, rank, os,"
                   " install_action, run_action, boot, comment FROM hosts")
    assert err.value.first.code == "duplicate-host"


def test_on_a_session_it_joins_the_sessions_transaction(cluster: Inventory) -> None:
    with pytest.raises(RuntimeError), cluster.transaction() as s:
        db = core.Db.of(s)
        core.add_host(db, Host("compute-0-0", "compute"))
        assert q.get_host(s, "compute-0-0").name == "compute-0-0"  # the ORM sees it
        with db.transaction():  # a borrowed connection's transaction is the session's
            pass
    with cluster.transaction() as s:
        assert q.list_hosts(s) == []  # rolled back with the session


def _cli_modules(env: dict[str, str], *argv: str) -> list[str]:
    """Run `rocks argv…` in a fresh interpreter; the heavy modules it imported."""
    code = ("import sys; from rocks.cli.main import main; rc = main(sys.argv[1:]); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlalchemy', 'alembic', 'lxml', 'jinja2', 'pykickstart', 'networkx'}); "
            "print('heavy:', *heavy, file=sys.stderr); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **env}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()[-1].split()[1:]


def test_hot_commands_import_no_orm(cluster: Inventory, tmp_path: Path) -> None:
    if cluster.dialect == "sqlite":
        env = {"ROCKS_STATE": str(Path(cluster.url.split(":///", 1)[1]).parent)}
    else:
        env = {"ROCKS_STATE": str(tmp_path), "ROCKS_DATABASE_URL": cluster.url}
    env["ROCKS_SYNC_ROOT"] = str(tmp_path / "root")
    assert _cli_modules(env, "add", "host", "compute-0-0") == []
    assert _cli_modules(env, "add", "host", "appliance=compute", "rack=2") == []
    assert _cli_modules(env, "list", "host", "compute") == []
    with cluster.transaction() as s:
        assert [h.name for h in q.list_hosts(s)] == ["compute-0-0", "compute-2-0"]
    # one host changed → live: the changes, their incremental sync, and sync config itself
    # (once the rolls' defaults are cached: the first sync after a roll change loads the graph)
    _cli_modules(env, "sync", "config", "loaders=no")
    assert _cli_modules(env, "add", "host", "interface", "compute-0-0", "eth0",
                        "ip=10.1.255.254", "mac=52:54:00:00:00:01", "network=private") == []
    assert _cli_modules(env, "set", "host", "interface", "mac", "compute-0-0", "eth0",
                        "52:54:00:00:00:02") == []
    assert _cli_modules(env, "set", "host", "boot", "compute-0-0", "action=install",
                        "force=yes") == []
    assert _cli_modules(env, "sync", "config", "loaders=no") == []
    assert (tmp_path / "root/tftpboot/pxelinux.cfg/0A01FFFE").is_file()


def _context(inv: Inventory, tmp_path: Path) -> Context:
    env = {"ROCKS_STATE": str(tmp_path)}
    if inv.dialect == "sqlite":
        env["ROCKS_STATE"] = str(Path(inv.url.split(":///", 1)[1]).parent)
    else:
        env["ROCKS_DATABASE_URL"] = inv.url
    return Context(stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), env=env,
                   factories=default_factories())


def test_a_command_has_one_way_in(cluster: Inventory, tmp_path: Path) -> None:
    """After the ORM session, inventory-core borrows its connection; the other way round would
    be two transactions (on SQLite, a writer waiting for itself), so it is refused."""
    ctx = _context(cluster, tmp_path)
    with ctx.resources:
        session = ctx.service("inventory")
        db = ctx.service("inventory-core")
        assert not db.owned
        core.add_host(db, Host("compute-0-0", "compute"))
        assert q.get_host(session, "compute-0-0").appliance == "compute"
    ctx = _context(cluster, tmp_path)
    with ctx.resources:
        assert ctx.service("inventory-core").owned
        with pytest.raises(RuntimeError, match="one"):
            ctx.service("inventory")


def test_a_locked_sqlite_inventory_is_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(tmp_path / "rocks.db")
    inv = open_inventory(url)
    with inv.transaction() as s:
        q.seed_defaults(s, [Appliance("compute", "compute")])
    inv.close()
    holder = core.connect(url)  # a writer in its transaction
    assert holder is not None
    monkeypatch.setattr(core, "BUSY_TIMEOUT_MS", 50)  # instead of waiting 10 s
    try:
        with pytest.raises(RocksError) as err:
            core.connect(url)
        assert err.value.first.code == "database-busy"
    finally:
        holder.close()
    db = core.connect(url)  # free again
    assert db is not None
    db.close()
