"""Indexes the account mapping grid sorts and pages by at 100,000 accounts.

Accounts by name and by status (each then by reference), and Halo clients by name: the
grid reads a page, and the key at a page's first position, from these instead of sorting
every account of the workspace.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "account": [("workspace_id", "name", "ref"), ("workspace_id", "status", "ref")],
    "halo_client": [("workspace_id", "name", "halo_id")],
}


def _name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, indexes in _INDEXES.items():
        for columns in indexes:
            op.create_index(_name(table, columns), table, list(columns), unique=False)


def downgrade() -> None:
    for table, indexes in _INDEXES.items():
        for columns in indexes:
            op.drop_index(_name(table, columns), table_name=table)
