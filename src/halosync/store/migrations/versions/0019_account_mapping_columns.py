"""The account's mapping status and mapped Halo client, kept on the account for the grid.

``mapping_status`` (unmapped, response_error, required, mapped, for the workspace's
target), ``mapped_client_id``, ``mapped_client_name`` and ``mapped_client_status``
(active, inactive, gone): what the account mapping grid filters, sorts and searches on,
read from the account table's indexes instead of joining the mapping, Halo client and
recurring invoice of every account (store/account_grid.py keeps them current).

Plain ADD COLUMNs (no table copy), then one UPDATE that works them out for every mapped
account; an unmapped account has the defaults already.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ("workspace_id", "mapping_status", "ref"),
    ("workspace_id", "mapping_status", "name", "ref"),
    ("workspace_id", "mapped_client_name", "ref"),
    ("workspace_id", "mapped_client_id", "ref"),
    ("workspace_id", "mapped_client_status", "ref"),
]

_MAPPING = (
    "FROM account_mapping m WHERE m.workspace_id = account.workspace_id"
    " AND m.account_id = account.id"
)
_CLIENT = (
    "FROM account_mapping m JOIN halo_client c"
    " ON c.workspace_id = m.workspace_id AND c.halo_id = m.halo_client_id"
    " WHERE m.workspace_id = account.workspace_id AND m.account_id = account.id"
)
_LIVE_INVOICE = (
    "FROM account_mapping m JOIN halo_recurring_invoice i"
    " ON i.workspace_id = m.workspace_id AND i.halo_id = m.recurring_invoice_id"
    " WHERE m.workspace_id = account.workspace_id AND m.account_id = account.id"
    " AND NOT i.gone"
)
# The rule of store.account_grid.status_expression, as it stood at this revision.
_BACKFILL = f"""
UPDATE account SET
    mapped_client_id = (SELECT m.halo_client_id {_MAPPING}),
    mapped_client_name = (SELECT c.name {_CLIENT}),
    mapped_client_status = (
        SELECT CASE WHEN c.gone THEN 'gone' WHEN c.inactive THEN 'inactive' ELSE 'active' END
        {_CLIENT}
    ),
    mapping_status = CASE
        WHEN NOT EXISTS (SELECT 1 {_CLIENT}) THEN 'response_error'
        WHEN (SELECT w.target FROM workspace w WHERE w.id = account.workspace_id)
            = 'invoice_line' AND NOT EXISTS (SELECT 1 {_LIVE_INVOICE}) THEN 'required'
        ELSE 'mapped'
    END
WHERE EXISTS (SELECT 1 {_MAPPING})
"""  # noqa: S608 (built from the constants above only)


def _name(columns: tuple[str, ...]) -> str:
    return f"ix_account_{'_'.join(columns)}"


def upgrade() -> None:
    op.add_column(
        "account",
        sa.Column(
            "mapping_status", sa.String(length=16), server_default="unmapped", nullable=False
        ),
    )
    op.add_column("account", sa.Column("mapped_client_id", sa.Integer(), nullable=True))
    op.add_column("account", sa.Column("mapped_client_name", sa.Text(), nullable=True))
    op.add_column("account", sa.Column("mapped_client_status", sa.String(length=8), nullable=True))
    op.execute(_BACKFILL)
    for columns in _INDEXES:
        op.create_index(_name(columns), "account", list(columns), unique=False)


def downgrade() -> None:
    for columns in _INDEXES:
        op.drop_index(_name(columns), table_name="account")
    # ALTER TABLE DROP COLUMN, never a table copy: dropping the copied table would cascade to
    # every subscription and mapping of the accounts on SQLite.
    for column in (
        "mapped_client_status",
        "mapped_client_name",
        "mapped_client_id",
        "mapping_status",
    ):
        op.drop_column("account", column)
