"""Sync runs: the progress a running sync records with its heartbeat.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch copy of the table could lose the
    # WHERE clause of the one-active-run index on SQLite.
    op.add_column("sync_run", sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("sync_run", "progress")
