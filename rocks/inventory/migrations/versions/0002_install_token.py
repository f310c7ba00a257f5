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
    # Plain ADD COLUMN and a unique index: no table rebuild (a SQLite batch rebuild drops and
    # recreates `hosts`, and with foreign keys on that cascades into interfaces and attributes).
    op.add_column("hosts", sa.Column("install_token", sa.String(64), nullable=True))
    op.add_column("hosts", sa.Column("install_started", UTCDateTime(), nullable=True))
    op.create_index("uq_hosts_install_token", "hosts", ["install_token"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_hosts_install_token", "hosts")
    op.drop_column("hosts", "install_started")
    op.drop_column("hosts", "install_token")
