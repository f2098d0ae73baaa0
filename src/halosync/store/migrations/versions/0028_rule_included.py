"""A quantity rule's ``included``: an account or one account × service billed even though a
broader scope excludes it (issue 17: an internal account with one service billed).

A plain nullable ADD COLUMN (no table copy): every stored version keeps its meaning (not
set), and the past is never rewritten.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("quantity_rule", sa.Column("included", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("quantity_rule", "included")
