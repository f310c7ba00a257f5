"""A host's BMC: the interface that is one carries its protocol (ipmi or redfish).

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

CHECK = "bmc IS NULL OR bmc IN ('ipmi', 'redfish')"


def upgrade() -> None:
    # A batch rebuild of `interfaces` under SQLite: nothing refers to interfaces, so dropping
    # and recreating it cascades nowhere (unlike `hosts`, see 0002).
    with op.batch_alter_table("interfaces") as batch:
        batch.add_column(sa.Column("bmc", sa.String(16), nullable=True))
        batch.create_check_constraint("ck_interfaces_bmc_protocol", CHECK)


def downgrade() -> None:
    with op.batch_alter_table("interfaces") as batch:
        batch.drop_constraint("ck_interfaces_bmc_protocol", type_="check")
        batch.drop_column("bmc")
