"""Recurring-invoice lines: the one existing line of a mapped item is taken over by default.

``workspace.adopt_existing_lines`` now defaults to true ("only lines halosync adds" is the
opt-out). Existing workspaces get the new default too: until now false was the default and
the setting had to be found and turned on, so a stored false says "never chosen", not "no";
with false, the first sync of a mapped account left its line alone with a WARNING and billed
nothing right. Each invoice_line workspace that changes gets an activity-log entry saying so,
before any sync takes a line over.

Only the values change: the column's server default stays ``false`` and the model's default
(``True``) applies to new workspaces. Changing a server default on SQLite means copying the
table, and copying ``workspace`` with foreign keys on (as halosync's connections have them)
deletes every row that cascades from it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:50:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_workspace = sa.table(
    "workspace",
    sa.column("id", sa.Integer()),
    sa.column("target", sa.String(16)),
    sa.column("adopt_existing_lines", sa.Boolean()),
)
_log = sa.table(
    "log_entry",
    sa.column("workspace_id", sa.Integer()),
    sa.column("level", sa.String(8)),
    sa.column("title", sa.Text()),
    sa.column("details", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
NOTICE = (
    "adopt_existing_lines: False -> True (the new default: the one existing line of a mapped "
    "item on the mapped recurring invoice is taken over and kept current; turn on 'only "
    "lines halosync adds' to keep the old behaviour). Applies from the next sync."
)


def upgrade() -> None:
    bind = op.get_bind()
    changed = [
        row.id
        for row in bind.execute(
            sa.select(_workspace.c.id).where(
                _workspace.c.adopt_existing_lines.is_(False),
                _workspace.c.target == "invoice_line",
            )
        )
    ]
    bind.execute(
        _workspace.update()
        .where(_workspace.c.adopt_existing_lines.is_(False))
        .values(adopt_existing_lines=True)
    )
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as the store's UTCDateTime keeps it there
    for workspace_id in changed:
        bind.execute(
            _log.insert().values(
                workspace_id=workspace_id,
                level="INFO",
                title="Sync settings changed",
                details=NOTICE,
                created_at=now,
            )
        )


def downgrade() -> None:
    """Nothing to undo: a stored true was a valid choice before, too."""
