"""A connection's way of writing recurring-invoice lines.

``invoice`` (the default, and what every existing connection gets): read the invoice,
change only halosync's lines and post the whole line set back to ``/RecurringInvoice``, the
path public Halo integrations use. ``update_lines``: the lines endpoint with the changed
lines alone, as halosync did before. See ``docs/halopsa.md``.

A plain ADD COLUMN with a constant default on both databases (no table copy).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "halo_connection",
        sa.Column(
            "line_write_path", sa.String(length=16), server_default="invoice", nullable=False
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("halo_connection") as batch:
        batch.drop_column("line_write_path")
