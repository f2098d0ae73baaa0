"""Workspaces: what the last attention and failure e-mails said, so the same one is sent once.

``workspace.notify_state`` maps a topic ("attention", "failure:usage",
"failure:customers") to a digest of what was last e-mailed about it. Plain ALTER TABLE (a
batch copy of ``workspace`` on SQLite would delete what cascades from it).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspace", sa.Column("notify_state", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("workspace", "notify_state")
