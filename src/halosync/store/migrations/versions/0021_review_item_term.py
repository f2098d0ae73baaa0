"""A review item knows its term: ``review_item.apart_term`` (issue 17 review).

With the terms rule ``apart`` one account × service bills a record per term, and a held
change belongs to that record: the pair and the term, as ``ledger_entry.apart_term`` keeps
it. Every existing row is ``''``, the pair's one record (the identity of summed or picked
terms, and of every change before terms existed). A plain ADD COLUMN with a default: no
table copy on SQLite.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "review_item",
        sa.Column(
            "apart_term", sa.String(length=255), server_default=sa.text("''"), nullable=False
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        batch.drop_column("apart_term")
