"""Workspaces: when the setup wizard's Finish was pressed; schedules start only after it.

Until now nothing recorded Finish and the schedules ran for every connected workspace, so
a workspace mid-setup got its 18:00 push. ``workspace.setup_finished_at`` gates them now.
Existing workspaces that had come through the wizard keep their schedules: one with a
connection, a mapped account and a mapped service is set finished (at the upgrade), and
says so in its activity log. The others start their schedules at Finish.

Plain ALTER TABLE (no batch copy): copying ``workspace`` on SQLite with foreign keys on
deletes every row that cascades from it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_workspace = sa.table(
    "workspace",
    sa.column("id", sa.Integer()),
    sa.column("setup_finished_at", sa.DateTime(timezone=True)),
)
_connection = sa.table("halo_connection", sa.column("workspace_id", sa.Integer()))
_accounts = sa.table("account_mapping", sa.column("workspace_id", sa.Integer()))
_services = sa.table("service_mapping", sa.column("workspace_id", sa.Integer()))
_log = sa.table(
    "log_entry",
    sa.column("workspace_id", sa.Integer()),
    sa.column("level", sa.String(8)),
    sa.column("title", sa.Text()),
    sa.column("details", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
NOTICE = (
    "Automatic syncs now start only once setup is finished; this workspace was already set "
    "up (a connection, mapped accounts and services), so it counts as finished and keeps "
    "its schedules."
)


def upgrade() -> None:
    op.add_column("workspace", sa.Column("setup_finished_at", sa.DateTime(timezone=True)))
    bind = op.get_bind()
    ws = _workspace.c.id
    finished = [
        row.id
        for row in bind.execute(
            sa.select(ws).where(
                sa.exists().where(_connection.c.workspace_id == ws),
                sa.exists().where(_accounts.c.workspace_id == ws),
                sa.exists().where(_services.c.workspace_id == ws),
            )
        )
    ]
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as the store's UTCDateTime keeps it there
    for workspace_id in finished:
        bind.execute(_workspace.update().where(ws == workspace_id).values(setup_finished_at=now))
        bind.execute(
            _log.insert().values(
                workspace_id=workspace_id,
                level="INFO",
                title="Setup finished",
                details=NOTICE,
                created_at=now,
            )
        )


def downgrade() -> None:
    op.drop_column("workspace", "setup_finished_at")
