"""The update a ledger row's record was sent and whose answer is not recorded yet.

A usage sync killed after HaloPSA applied an update but before it recorded it left no
trace: the next run found Halo holding the new values, counted the pair unchanged, and the
audit trail never had the update. ``ledger_entry.unconfirmed`` holds the update (run, POST,
fields before and after) from just before its POST until the row is written, so the run
that finds Halo holding those values records the update as the interrupted run's.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 12:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(sa.Column("unconfirmed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_column("unconfirmed")
