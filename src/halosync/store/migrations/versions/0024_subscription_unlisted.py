"""A subscription a snapshot left out is marked so: ``subscription.unlisted`` (issue 17 review).

A snapshot import cancels the subscriptions it does not list. The vendor did not cancel
them, it no longer sends them, and the explain chain and the reconciliation say so ("term
monthly no longer sent by the vendor") instead of "subscription cancelled". The flag is
cleared when the vendor lists the subscription again. Every existing row is ``false``: a
cancellation before this revision is not known to have come from a snapshot. A plain ADD
COLUMN with a default: no table copy on SQLite.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscription",
        sa.Column("unlisted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("unlisted")
