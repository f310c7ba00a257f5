"""Alembic environment for the inventory, driven from `rocks.inventory.db.migrate`.

The caller passes an open connection in `config.attributes["connection"]`; there is no
alembic.ini and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from rocks.inventory.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes opening a fresh shared database must not both create the schema.
        connection.execute(text("SELECT pg_advisory_xact_lock(7243001)"))
    context.run_migrations()
