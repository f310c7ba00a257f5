"""A host's BMC: the interface that is one carries its protocol (ipmi or redfish); attributes
at rack scope (one value for the hosts of a rack number, e.g. their BMCs' credentials).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BMC = "bmc IS NULL OR bmc IN ('ipmi', 'redfish')"
OLD_SCOPES = "scope IN ('global', 'os', 'appliance', 'host')"
SCOPES = "scope IN ('global', 'os', 'appliance', 'rack', 'host')"
OLD_TARGET = (
    "(scope = 'global' AND os = '' AND appliance_id IS NULL AND host_id IS NULL)"
    " OR (scope = 'os' AND os <> '' AND appliance_id IS NULL AND host_id IS NULL)"
    " OR (scope = 'appliance' AND os IS NULL AND appliance_id IS NOT NULL AND host_id IS NULL)"
    " OR (scope = 'host' AND os IS NULL AND appliance_id IS NULL AND host_id IS NOT NULL)"
)
TARGET = (
    "(scope = 'global' AND os = '' AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'os' AND os <> '' AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'appliance' AND os IS NULL AND appliance_id IS NOT NULL AND host_id IS NULL"
    " AND rack IS NULL)"
    " OR (scope = 'rack' AND os IS NULL AND appliance_id IS NULL AND host_id IS NULL"
    " AND rack IS NOT NULL)"
    " OR (scope = 'host' AND os IS NULL AND appliance_id IS NULL AND host_id IS NOT NULL"
    " AND rack IS NULL)"
)


def upgrade() -> None:
    # Batch rebuilds under SQLite: nothing refers to interfaces or attributes, so dropping and
    # recreating them cascades nowhere (unlike `hosts`, see 0002).
    with op.batch_alter_table("interfaces") as batch:
        batch.add_column(sa.Column("bmc", sa.String(16), nullable=True))
        batch.create_check_constraint(op.f("ck_interfaces_bmc_protocol"), BMC)
    with op.batch_alter_table("attributes") as batch:
        batch.add_column(sa.Column("rack", sa.Integer(), nullable=True))
        # 0001 named these through the naming convention as well: their real names double up
        batch.drop_constraint(op.f("ck_attributes_ck_attributes_scope"), type_="check")
        batch.drop_constraint(op.f("ck_attributes_ck_attributes_target"), type_="check")
        batch.create_check_constraint(op.f("ck_attributes_scope"), SCOPES)
        batch.create_check_constraint(op.f("ck_attributes_target"), TARGET)
        batch.create_index(op.f("uq_attributes_rack"), ["rack", "name"], unique=True)


def downgrade() -> None:
    op.execute("DELETE FROM attributes WHERE scope = 'rack'")
    with op.batch_alter_table("attributes") as batch:
        batch.drop_index(op.f("uq_attributes_rack"))
        batch.drop_constraint(op.f("ck_attributes_target"), type_="check")
        batch.drop_constraint(op.f("ck_attributes_scope"), type_="check")
        batch.create_check_constraint(op.f("ck_attributes_ck_attributes_scope"), OLD_SCOPES)
        batch.create_check_constraint(op.f("ck_attributes_ck_attributes_target"), OLD_TARGET)
        batch.drop_column("rack")
    with op.batch_alter_table("interfaces") as batch:
        batch.drop_constraint(op.f("ck_interfaces_bmc_protocol"), type_="check")
        batch.drop_column("bmc")
