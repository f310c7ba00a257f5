"""`rocks_env`: run the real `rocks` CLI in process against a fresh inventory, on each backend.

Import the fixture into a test module (`from tests.cli.inventory_fixtures import rocks_env`).
`sqlite` always runs (a new state directory per test); `postgres` runs when
ROCKS_TEST_POSTGRES_URL names a server (scripts/pg-throwaway.sh): one database per test process,
migrated once, emptied before each test.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from rocks.cli.context import CliResult, default_factories, run_cli
from rocks.commands import ServiceFactory
from tests.conftest import optional_skip

PG_ENV = "ROCKS_TEST_POSTGRES_URL"

Rocks = Callable[..., CliResult]
"""`rocks("add", "host", "compute-0-0", stdin="")` -> CliResult(code, stdout, stderr)."""

_pg_url: str | None = None


def _pg_database() -> str:
    """This process's throwaway database (created and migrated once, dropped at exit)."""
    global _pg_url
    if _pg_url is not None:
        return _pg_url
    base = os.environ.get(PG_ENV)
    if not base:
        optional_skip("no-postgres", f"{PG_ENV} is not set (scripts/test.sh starts one)")
    import psycopg

    name = f"rocks_cli_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    atexit.register(drop)
    head, _, _db = admin.rpartition("/")
    _pg_url = f"{head}/{name}"
    return _pg_url


def _empty_pg(url: str) -> None:
    from rocks.inventory import open_inventory
    from rocks.inventory.schema import Base

    inv = open_inventory(url)  # migrates on first open
    try:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with inv.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        inv.close()


def _services() -> dict[str, ServiceFactory]:
    factories = default_factories()
    if "inventory" not in factories:
        # The registry may not list the inventory service yet; it is the command's session.
        from rocks.commands._inventory import open_session

        factories["inventory"] = open_session
    return factories


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rocks_env(request: pytest.FixtureRequest, tmp_path: Path) -> Rocks:
    """A callable running `rocks <argv…>` against this test's own empty inventory."""
    env = {"ROCKS_STATE": str(tmp_path / "state")}
    if request.param == "postgres":
        url = _pg_database()
        _empty_pg(url)
        env["ROCKS_DATABASE_URL"] = url

    def rocks(*argv: str, stdin: str = "") -> CliResult:
        return run_cli(list(argv), env, stdin, services=_services())

    return rocks
