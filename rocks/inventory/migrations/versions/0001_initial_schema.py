"""Initial inventory schema: appliances, networks, hosts, interfaces, attributes, boot actions,
rolls, install events and host profiles.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCOPE_TARGET = (
    "(scope = 'global' AND os = '' AND appliance_id IS NULL AND host_id IS NULL)"
    " OR (scope = 'os' AND os <> '' AND appliance_id IS NULL AND host_id IS NULL)"
    " OR (scope = 'appliance' AND os IS NULL AND appliance_id IS NOT NULL AND host_id IS NULL)"
    " OR (scope = 'host' AND os IS NULL AND appliance_id IS NULL AND host_id IS NOT NULL)"
)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "appliances",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("kickstartable", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("graph", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_appliances"),
        sa.UniqueConstraint("name", name="uq_appliances_name"),
    )
    op.create_table(
        "boot_actions",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kernel", sa.String(255), nullable=False),
        sa.Column("initrd", sa.String(255), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_boot_actions"),
        sa.UniqueConstraint("name", name="uq_boot_actions_name"),
    )
    op.create_table(
        "networks",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("subnet", sa.String(45), nullable=False),
        sa.Column("netmask", sa.String(45), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("zone", sa.String(255), nullable=False),
        sa.Column("servedns", sa.Boolean(), nullable=False),
        sa.Column("pxe", sa.Boolean(), nullable=False),
        sa.Column("gateway", sa.String(45), nullable=False),
        sa.CheckConstraint("mtu > 0", name="ck_networks_mtu_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_networks"),
        sa.UniqueConstraint("name", name="uq_networks_name"),
    )
    op.create_table(
        "rolls",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("arch", sa.String(16), nullable=False),
        sa.Column("os", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rolls"),
        sa.UniqueConstraint("name", "version", "arch", name="uq_rolls_name_version_arch"),
    )
    op.create_table(
        "hosts",
        _id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("appliance_id", sa.Integer(), nullable=False),
        sa.Column("rack", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("os", sa.String(32), nullable=False),
        sa.Column("install_action", sa.String(64), nullable=False),
        sa.Column("run_action", sa.String(64), nullable=False),
        sa.Column("boot", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint("boot IN ('install', 'os')", name="ck_hosts_boot_state"),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliances.id"],
            name="fk_hosts_appliance_id_appliances",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hosts"),
        sa.UniqueConstraint("name", name="uq_hosts_name"),
    )
    op.create_index("ix_hosts_appliance_id", "hosts", ["appliance_id"])
    op.create_table(
        "attributes",
        _id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("os", sa.String(32), nullable=True),
        sa.Column("appliance_id", sa.Integer(), nullable=True),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.CheckConstraint(SCOPE_TARGET, name="ck_attributes_target"),
        sa.CheckConstraint(
            "scope IN ('global', 'os', 'appliance', 'host')", name="ck_attributes_scope"
        ),
        sa.ForeignKeyConstraint(
            ["appliance_id"],
            ["appliances.id"],
            name="fk_attributes_appliance_id_appliances",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_attributes_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attributes"),
    )
    op.create_index("uq_attributes_os", "attributes", ["os", "name"], unique=True)
    op.create_index("uq_attributes_appliance", "attributes", ["appliance_id", "name"], unique=True)
    op.create_index("uq_attributes_host", "attributes", ["host_id", "name"], unique=True)
    op.create_table(
        "host_profiles",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_host_profiles_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("host_id", name="pk_host_profiles"),
    )
    op.create_table(
        "install_events",
        _id(),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(45), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_install_events_host_id_hosts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_install_events"),
    )
    op.create_index("ix_install_events_host_id", "install_events", ["host_id"])
    op.create_table(
        "interfaces",
        _id(),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("mac", sa.String(17), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("network_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("module", sa.String(64), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("default_gateway", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_interfaces_host_id_hosts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name="fk_interfaces_network_id_networks",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_interfaces"),
        sa.UniqueConstraint("host_id", "device", name="uq_interfaces_host_id_device"),
        sa.UniqueConstraint("mac", name="uq_interfaces_mac"),
        sa.UniqueConstraint("network_id", "ip", name="uq_interfaces_network_id_ip"),
    )
    op.create_index("ix_interfaces_network_id", "interfaces", ["network_id"])


def downgrade() -> None:
    for table in (
        "interfaces",
        "install_events",
        "host_profiles",
        "attributes",
        "hosts",
        "rolls",
        "networks",
        "boot_actions",
        "appliances",
    ):
        op.drop_table(table)
