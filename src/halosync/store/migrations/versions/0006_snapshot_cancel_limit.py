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


def upgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(
            sa.Column(
                "snapshot_cancel_limit_percent",
                sa.Integer(),
                server_default=sa.text("50"),
                nullable=False,
            )
        )
        batch.create_check_constraint(
            op.f("ck_workspace_snapshot_cancel_limit_percent"),
            "snapshot_cancel_limit_percent BETWEEN 0 AND 100",
        )


def downgrade() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.drop_constraint(op.f("ck_workspace_snapshot_cancel_limit_percent"), type_="check")
        batch.drop_column("snapshot_cancel_limit_percent")
