"""Several frontends on one database: the frontend registry, the distribution they mirror, the
frontend that stored each install event; on PostgreSQL, notifications of every change a
frontend's snapshot follows and the hosts whose DHCP reservations a transaction must rewrite.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rocks.inventory.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# What a frontend's snapshot is built from (rocks/server/index.py _FINGERPRINTED): a statement
# on any of them tells every listening frontend to rebuild (channel rocks_inventory).
INVENTORY = ("hosts", "interfaces", "attributes", "appliances", "rolls", "networks",
             "boot_actions")
CHANNELS = {"install_events": "rocks_events", "host_status": "rocks_events",
            "frontends": "rocks_frontends", "distros": "rocks_distro"}

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION rocks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_dhcp_interface() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO dhcp_pending (host_id) VALUES (OLD.host_id);
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.host_id <> OLD.host_id) THEN
    INSERT INTO dhcp_pending (host_id) VALUES (NEW.host_id);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_dhcp_host() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name <> OLD.name OR NEW.rack <> OLD.rack OR NEW.appliance_id <> OLD.appliance_id
     OR NEW.os <> OLD.os THEN
    INSERT INTO dhcp_pending (host_id) VALUES (NEW.id);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_dhcp_attribute() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  row attributes%ROWTYPE;
BEGIN
  IF TG_OP = 'DELETE' THEN row := OLD; ELSE row := NEW; END IF;
  IF row.name = 'frontend' OR (TG_OP = 'UPDATE' AND OLD.name = 'frontend') THEN
    IF row.scope = 'host' THEN
      INSERT INTO dhcp_pending (host_id) VALUES (row.host_id);
    ELSE
      INSERT INTO dhcp_pending (host_id) VALUES (NULL);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rocks_dhcp_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO dhcp_pending (host_id) VALUES (NULL);
  RETURN NULL;
END $$;
"""


def _pg_triggers() -> None:
    op.execute(PG_FUNCTIONS)
    for table in INVENTORY:
        op.execute(f"CREATE TRIGGER rocks_notify_{table} AFTER INSERT OR UPDATE OR DELETE OR "
                   f"TRUNCATE ON {table} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION rocks_notify('rocks_inventory')")
    for table, channel in CHANNELS.items():
        op.execute(f"CREATE TRIGGER rocks_notify_{table} AFTER INSERT OR UPDATE OR DELETE ON "
                   f"{table} FOR EACH STATEMENT EXECUTE FUNCTION rocks_notify('{channel}')")
    op.execute("CREATE TRIGGER rocks_dhcp_interfaces AFTER INSERT OR UPDATE OR DELETE ON "
               "interfaces FOR EACH ROW EXECUTE FUNCTION rocks_dhcp_interface()")
    op.execute("CREATE TRIGGER rocks_dhcp_hosts AFTER UPDATE ON hosts FOR EACH ROW "
               "EXECUTE FUNCTION rocks_dhcp_host()")
    op.execute("CREATE TRIGGER rocks_dhcp_attributes AFTER INSERT OR UPDATE OR DELETE ON "
               "attributes FOR EACH ROW EXECUTE FUNCTION rocks_dhcp_attribute()")
    op.execute("CREATE TRIGGER rocks_dhcp_networks AFTER UPDATE OR DELETE ON networks "
               "FOR EACH ROW EXECUTE FUNCTION rocks_dhcp_all()")


def upgrade() -> None:
    op.create_table(
        "frontends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("started", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("distro", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frontends")),
        sa.UniqueConstraint("name", name=op.f("uq_frontends_name")),
    )
    op.create_table(
        "distros",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_distros")),
    )
    op.create_table(
        "dhcp_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhcp_pending")),
    )
    # a plain ADD COLUMN: no table rebuild under SQLite
    op.add_column("install_events", sa.Column("frontend", sa.String(64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _pg_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in (*INVENTORY, *CHANNELS):
            op.execute(f"DROP TRIGGER IF EXISTS rocks_notify_{table} ON {table}")
        for trigger, table in (("rocks_dhcp_interfaces", "interfaces"),
                               ("rocks_dhcp_hosts", "hosts"),
                               ("rocks_dhcp_attributes", "attributes"),
                               ("rocks_dhcp_networks", "networks")):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for fn in ("rocks_notify", "rocks_dhcp_interface", "rocks_dhcp_host",
                   "rocks_dhcp_attribute", "rocks_dhcp_all"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    with op.batch_alter_table("install_events") as batch:
        batch.drop_column("frontend")
    op.drop_table("dhcp_pending")
    op.drop_table("distros")
    op.drop_table("frontends")
