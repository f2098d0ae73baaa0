"""An index on the recurring invoice an account mapping names, per workspace.

A usage sync of the ``invoice_line`` target plans 1,000 accounts at a time, and each
chunk takes in the other accounts mapped to one of its recurring invoices
(``accounts_on_invoices``). Without an index on ``recurring_invoice_id`` that read every
mapping of the workspace once per chunk: 50 × 50,000 mappings at 100,000 pairs.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_account_mapping_invoice",
        "account_mapping",
        ["workspace_id", "recurring_invoice_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_account_mapping_invoice", table_name="account_mapping")
