"""Per-install one-time token on hosts: issued when the boot action becomes install.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rocks.inventory.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("install_token", sa.String(64), nullable=True))
        batch.add_column(sa.Column("install_started", UTCDateTime(), nullable=True))
        batch.create_unique_constraint("uq_hosts_install_token", ["install_token"])


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_constraint("uq_hosts_install_token", type_="unique")
        batch.drop_column("install_started")
        batch.drop_column("install_token")
