"""Opening the inventory: URLs, state directory, migrations, pragmas, transactions."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from rocks.errors import RocksError
from rocks.inventory import Inventory, database_url, open_inventory, state_dir
from rocks.inventory import queries as q
from rocks.inventory.db import HEAD_REVISION, schema_revision
from rocks.inventory.schema import Base, InterfaceRow
from rocks.model.inventory import Appliance, Host, Interface

REPO = Path(__file__).resolve().parents[2]


def test_state_dir_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROCKS_STATE", "/srv/rocks-state")
    assert state_dir() == Path("/srv/rocks-state")


def test_state_dir_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROCKS_STATE", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert state_dir() == Path("/var/lib/rocks")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", "/home/u/.st")
    assert state_dir() == Path("/home/u/.st/rocks")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert state_dir() == Path("/home/u/.local/state/rocks")


def test_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROCKS_STATE", "/st")
    monkeypatch.delenv("ROCKS_DATABASE_URL", raising=False)
    assert database_url() == "sqlite:////st/rocks.db"
    monkeypatch.setenv("ROCKS_DATABASE_URL", "postgresql://u@db:5432/rocks")
    assert database_url() == "postgresql+psycopg://u@db:5432/rocks"
    assert database_url("postgres://h/x") == "postgresql+psycopg://h/x"
    assert database_url("/tmp/x.db") == "sqlite:////tmp/x.db"
    assert database_url("sqlite:///rel.db") == "sqlite:///rel.db"


def test_default_location_is_created(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROCKS_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("ROCKS_DATABASE_URL", raising=False)
    with open_inventory() as inv:
        assert inv.url == f"sqlite:///{tmp_path}/state/rocks.db"
    assert (tmp_path / "state" / "rocks.db").is_file()


def test_head_revision_matches_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(REPO / "rocks" / "inventory" / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_migrations_equal_orm_metadata(inv: Inventory) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert schema_revision(inv.engine) == HEAD_REVISION
    with inv.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with open_inventory(str(tmp_path / "r.db")) as inv, inv.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_reopen_takes_fast_path_without_alembic(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    open_inventory(str(db)).close()
    probe = (
        "import sys; from rocks.inventory import open_inventory; "
        f"open_inventory({str(db)!r}).close(); "
        "print(sorted(m for m in ('alembic', 'sqlalchemy.dialects.postgresql') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with open_inventory(str(db)) as inv, inv.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RocksError) as err:
        open_inventory(str(db))
    assert err.value.first.code == "schema-unknown"


def test_unreachable_postgres_is_a_rocks_error() -> None:
    with pytest.raises(RocksError) as err:
        open_inventory("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert err.value.first.code == "database-unavailable"
    assert "127.0.0.1:1/none" in err.value.first.message


def test_transaction_rolls_back_everything(inv: Inventory) -> None:
    with pytest.raises(RuntimeError, match="boom"), inv.transaction() as s:
        q.add_appliance(s, Appliance("compute", "compute"))
        q.add_host(s, Host("compute-0-0", "compute"))
        raise RuntimeError("boom")
    with inv.transaction(readonly=True) as s:
        assert q.list_hosts(s) == []
        assert q.list_appliances(s) == []


def test_failed_check_rolls_back_earlier_work(cluster: Inventory) -> None:
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        q.add_host(s, Host("compute-0-0", "compute"))
        q.add_host(s, Host("compute-0-1", "no-such-appliance"))
    assert err.value.first.code == "unknown-appliance"
    with cluster.transaction(readonly=True) as s:
        assert q.list_hosts(s) == []


def test_integrity_error_safety_net(cluster: Inventory) -> None:
    """A write that skips the checks is still refused by the schema, as a coded RocksError."""
    with cluster.transaction() as s:
        q.add_host(
            s, Host("a", "compute", interfaces=(Interface("a", "eth0", "52:54:00:00:00:01"),))
        )
        q.add_host(s, Host("b", "compute"))
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        hid = s.execute(text("SELECT id FROM hosts WHERE name = 'b'")).scalar_one()
        s.add(InterfaceRow(host_id=hid, device="eth0", mac="52:54:00:00:00:01"))
    assert err.value.first.code == "duplicate-mac"
    with cluster.transaction(readonly=True) as s:
        assert q.get_host(s, "b").interfaces == ()


def test_unique_and_foreign_keys_enforced_by_schema(cluster: Inventory) -> None:
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        s.execute(
            text(
                "INSERT INTO hosts (name, appliance_id, rack, rank, os, install_action,"
                " run_action, boot, comment) VALUES ('x', 999, 0, 0, 'linux', 'install', 'os',"
                " 'os', '')"
            )
        )
    assert err.value.first.code == "foreign-key"
    with pytest.raises(RocksError) as err, cluster.transaction() as s:
        s.execute(
            text(
                "INSERT INTO hosts (name, appliance_id, rack, rank, os, install_action,"
                " run_action, boot, comment) SELECT 'x', id, 0, 0, 'linux', 'install', 'os',"
                " 'sideways', '' FROM appliances WHERE name = 'compute'"
            )
        )
    assert err.value.first.code == "invalid-value"


def test_times_are_aware_utc(cluster: Inventory) -> None:
    plus2 = timezone(timedelta(hours=2))
    with cluster.transaction() as s:
        q.add_host(s, Host("compute-0-0", "compute"))
        q.add_event(s, "compute-0-0", "boot", time=datetime(2024, 5, 1, 12, 0, tzinfo=plus2))
    with cluster.transaction(readonly=True) as s:
        (event,) = q.list_events(s, "compute-0-0")
    assert event.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert event.time.tzinfo is UTC
