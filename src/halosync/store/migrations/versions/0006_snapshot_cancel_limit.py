"""A workspace's limit on how many subscriptions one snapshot import may cancel unasked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    column = sa.Column(
        "snapshot_cancel_limit_percent", sa.Integer(), server_default=sa.text("50"), nullable=False
    )
    if _sqlite():
        # A batch copy of ``workspace`` drops the table, and with foreign keys on, SQLite's
        # DROP TABLE deletes every row that cascades from it (accounts, subscriptions,
        # runs...): a plain ADD COLUMN only, the range being checked by the application.
        op.add_column("workspace", column)
        return
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(column)
        batch.create_check_constraint(
            op.f("ck_workspace_snapshot_cancel_limit_percent"),
            "snapshot_cancel_limit_percent BETWEEN 0 AND 100",
        )


def downgrade() -> None:
    if _sqlite():
        op.drop_column("workspace", "snapshot_cancel_limit_percent")
        return
    with op.batch_alter_table("workspace") as batch:
        batch.drop_constraint(op.f("ck_workspace_snapshot_cancel_limit_percent"), type_="check")
        batch.drop_column("snapshot_cancel_limit_percent")
