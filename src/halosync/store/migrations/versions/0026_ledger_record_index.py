"""An index on the Halo record a ledger row names, per workspace and target.

A usage sync plans 1,000 accounts at a time; each chunk reads the ledger rows of other
accounts that name its Halo records (``ledger_naming``), and each run reads the record
ids in order to find the records no row names any more (``earlier_records``). Without an
index on ``halo_record_id`` the first scanned the workspace's ledger once per chunk, so a
sync's CPU grew with the square of its pairs.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ledger_entry_record",
        "ledger_entry",
        ["workspace_id", "target", "halo_record_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entry_record", table_name="ledger_entry")
