"""Last known state of running hosts (probe, `rocks run host`): a new table, nothing rebuilt.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rocks.inventory.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_status",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("checked", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("last_run", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name="fk_host_status_host_id_hosts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("host_id", name="pk_host_status"),
    )


def downgrade() -> None:
    op.drop_table("host_status")
