"""Indexes on the columns that name a sync run, so pruning old runs stays cheap.

A run past the log retention is deleted; the ledger, the audit trail, the review queue
and the log keep their rows and their reference to it becomes NULL (``ON DELETE SET
NULL``), which the database finds through these indexes instead of a scan per run.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ledger_entry", "last_run_id"),
    ("audit_entry", "run_id"),
    ("review_item", "first_run_id"),
    ("log_entry", "run_id"),
)


def upgrade() -> None:
    for table, column in _INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(_INDEXES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
