"""An approval applies once: ``review_item.spent_run_id`` (issue 17 review).

An approved change is written by the next sync that plans it, and only then: that sync's
id is kept on the item, so a later run that plans the same value again asks again, and an
approval that run did not write (the pair excluded meanwhile, another value planned) is
withdrawn instead of waiting armed. A plain number, not a foreign key: pruning the run's
history must not arm the approval again. Approvals made before are taken as used (0: no
run recorded), as nearly all were written at once: a value of theirs planned again is
asked about anew, never written unasked, and the next sync does not withdraw (and so
delete) each of them. A plain ADD COLUMN: no table copy on SQLite.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_item", sa.Column("spent_run_id", sa.Integer(), nullable=True))
    op.execute("UPDATE review_item SET spent_run_id = 0 WHERE status = 'approved'")


def downgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        batch.drop_column("spent_run_id")
