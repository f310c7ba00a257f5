"""Inventory fixtures: a fresh, migrated inventory on each backend.

`sqlite` always runs (a new file per test). `postgres` runs when ROCKS_TEST_POSTGRES_URL names a
server (see scripts/pg-throwaway.sh): one uniquely named database per test session, migrated
once, emptied between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocks.inventory import Inventory, open_inventory
from rocks.inventory import queries as q
from rocks.model.inventory import Appliance, Network
from tests.conftest import optional_skip

PG_ENV = "ROCKS_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway database on the test server, dropped at the end of the session."""
    base = os.environ.get(PG_ENV)
    if not base:
        optional_skip("no-postgres", f"{PG_ENV} is not set (scripts/test.sh starts one)")
    import psycopg

    name = f"rocks_test_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _db = admin.rpartition("/")
    yield f"{head}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(inv: Inventory) -> None:
    from rocks.inventory.schema import Base

    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with inv.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def inv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inventory]:
    if request.param == "sqlite":
        inventory = open_inventory(str(tmp_path / "rocks.db"))
    else:
        inventory = open_inventory(request.getfixturevalue("pg_database"))
        _empty(inventory)
    try:
        yield inventory
    finally:
        inventory.close()


@pytest.fixture
def cluster(inv: Inventory) -> Inventory:
    """An inventory with boot actions, two appliances and a private (PXE) and an ipmi network."""
    with inv.transaction() as s:
        q.seed_defaults(
            s, [Appliance("compute", "compute"), Appliance("frontend", "server", public=False)]
        )
        q.add_network(s, Network("private", "10.1.0.0", "255.255.0.0", zone="local", pxe=True))
        q.add_network(s, Network("ipmi", "10.2.0.0", "255.255.255.0"))
    return inv
