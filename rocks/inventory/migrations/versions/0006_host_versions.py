"""Host versions: a number per host that triggers change whenever what `rocks sync` writes for
the host may have changed — its row (the columns sync reads), its interfaces, its host-scope
attributes — so that an incremental sync replans only those hosts, whoever changed them.

The number is random (62 bits): a host removed and another added under the same id still gets
a new one, and no counter row serialises the writers. Existing hosts get one now.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# what sync reads of a host's own row (comment, install_started: no)
HOST_COLUMNS = "name, appliance_id, rack, rank, os, install_action, run_action, boot, install_token"
TRIGGERS = ("rocks_version_hosts_insert", "rocks_version_hosts_update",
            "rocks_version_hosts_delete", "rocks_version_interfaces_insert",
            "rocks_version_interfaces_update", "rocks_version_interfaces_delete",
            "rocks_version_attributes_insert", "rocks_version_attributes_update",
            "rocks_version_attributes_delete")
PG_TRIGGERS = ("rocks_version_hosts", "rocks_version_interfaces", "rocks_version_attributes")

# SQLite: random() & (2^62 - 1); the host must still exist (a cascade from a removed host's row
# must not leave a version behind)
_SQLITE_BUMP = ("INSERT INTO host_versions (host_id, version) "
                "SELECT {id}, random() & 4611686018427387903 "
                "WHERE EXISTS (SELECT 1 FROM hosts WHERE id = {id}) "
                "ON CONFLICT (host_id) DO UPDATE SET version = excluded.version;")


def _sqlite_triggers() -> list[str]:
    def bump(which: str) -> str:
        return _SQLITE_BUMP.format(id=which)

    return [
        f"CREATE TRIGGER rocks_version_hosts_insert AFTER INSERT ON hosts BEGIN "
        f"{bump('NEW.id')} END",
        f"CREATE TRIGGER rocks_version_hosts_update AFTER UPDATE OF {HOST_COLUMNS} ON hosts "
        f"BEGIN {bump('NEW.id')} END",
        "CREATE TRIGGER rocks_version_hosts_delete AFTER DELETE ON hosts BEGIN "
        "DELETE FROM host_versions WHERE host_id = OLD.id; END",
        f"CREATE TRIGGER rocks_version_interfaces_insert AFTER INSERT ON interfaces BEGIN "
        f"{bump('NEW.host_id')} END",
        f"CREATE TRIGGER rocks_version_interfaces_update AFTER UPDATE ON interfaces BEGIN "
        f"{bump('OLD.host_id')} {bump('NEW.host_id')} END",
        f"CREATE TRIGGER rocks_version_interfaces_delete AFTER DELETE ON interfaces BEGIN "
        f"{bump('OLD.host_id')} END",
        f"CREATE TRIGGER rocks_version_attributes_insert AFTER INSERT ON attributes "
        f"WHEN NEW.scope = 'host' BEGIN {bump('NEW.host_id')} END",
        f"CREATE TRIGGER rocks_version_attributes_update AFTER UPDATE ON attributes "
        f"WHEN NEW.scope = 'host' OR OLD.scope = 'host' BEGIN "
        f"{bump('OLD.host_id')} {bump('NEW.host_id')} END",
        f"CREATE TRIGGER rocks_version_attributes_delete AFTER DELETE ON attributes "
        f"WHEN OLD.scope = 'host' BEGIN {bump('OLD.host_id')} END",
    ]


PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION rocks_bump_host(h integer) RETURNS void LANGUAGE sql AS $$
  INSERT INTO host_versions (host_id, version)
  SELECT h, floor(random() * 4611686018427387903)::bigint
  WHERE h IS NOT NULL AND EXISTS (SELECT 1 FROM hosts WHERE id = h)
  ON CONFLICT (host_id) DO UPDATE SET version = excluded.version
$$;

CREATE OR REPLACE FUNCTION rocks_version_host() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM host_versions WHERE host_id = OLD.id;
  ELSE
    PERFORM rocks_bump_host(NEW.id);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_version_interface() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM rocks_bump_host(OLD.host_id);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM rocks_bump_host(NEW.host_id);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_version_attribute() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.scope = 'host' THEN
    PERFORM rocks_bump_host(OLD.host_id);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.scope = 'host' THEN
    PERFORM rocks_bump_host(NEW.host_id);
  END IF;
  RETURN NULL;
END $$;
"""


def _pg_triggers() -> list[str]:
    return [
        PG_FUNCTIONS,
        f"CREATE TRIGGER rocks_version_hosts AFTER INSERT OR DELETE OR UPDATE OF {HOST_COLUMNS} "
        "ON hosts FOR EACH ROW EXECUTE FUNCTION rocks_version_host()",
        "CREATE TRIGGER rocks_version_interfaces AFTER INSERT OR UPDATE OR DELETE ON interfaces "
        "FOR EACH ROW EXECUTE FUNCTION rocks_version_interface()",
        "CREATE TRIGGER rocks_version_attributes AFTER INSERT OR UPDATE OR DELETE ON attributes "
        "FOR EACH ROW EXECUTE FUNCTION rocks_version_attribute()",
    ]


def create_triggers(dialect: str) -> None:
    """The triggers (a later migration that rebuilds hosts, interfaces or attributes under
    SQLite drops their triggers with the old table, and must call this again)."""
    for statement in _pg_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "host_versions",
        sa.Column("host_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_host_versions")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("INSERT INTO host_versions (host_id, version) "
                   "SELECT id, floor(random() * 4611686018427387903)::bigint FROM hosts")
    else:
        op.execute("INSERT INTO host_versions (host_id, version) "
                   "SELECT id, random() & 4611686018427387903 FROM hosts")
    create_triggers(dialect)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in zip(PG_TRIGGERS, ("hosts", "interfaces", "attributes"), strict=True):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for fn in ("rocks_version_attribute()", "rocks_version_interface()",
                   "rocks_version_host()", "rocks_bump_host(integer)"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    else:
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("host_versions")
