"""Sync runs: owner, enqueue time and account reference in their own columns.

They used to ride in the ``counts`` JSON next to the numbers; the values of existing rows
move out of ``counts`` into the new columns (and back on downgrade), so ``counts`` holds
counts only. Runs of an account that only had ``account_id`` get its reference.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_runs = sa.table(
    "sync_run",
    sa.column("id", sa.Integer()),
    sa.column("counts", sa.JSON()),
    sa.column("account_ref", sa.String(255)),
    sa.column("owner_host", sa.String(255)),
    sa.column("owner_pid", sa.Integer()),
    sa.column("enqueued_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch copy of the table could lose the
    # WHERE clause of the one-active-run index on SQLite.
    op.add_column("sync_run", sa.Column("account_ref", sa.String(length=255), nullable=True))
    op.add_column("sync_run", sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sync_run", sa.Column("owner_host", sa.String(length=255), nullable=True))
    op.add_column("sync_run", sa.Column("owner_pid", sa.Integer(), nullable=True))
    bind = op.get_bind()
    for run_id, counts in _rows(bind):
        values = _moved_out(counts, bind.dialect.name)
        if values is not None:
            bind.execute(_runs.update().where(_runs.c.id == run_id).values(**values))
    op.execute(
        "UPDATE sync_run SET account_ref = "
        "(SELECT account.ref FROM account WHERE account.id = sync_run.account_id) "
        "WHERE account_ref IS NULL AND account_id IS NOT NULL"
    )


def downgrade() -> None:
    bind = op.get_bind()
    columns = (_runs.c.id, _runs.c.counts, _runs.c.account_ref, _runs.c.owner_host)
    last = 0
    while True:
        rows = bind.execute(
            sa.select(*columns, _runs.c.owner_pid, _runs.c.enqueued_at)
            .where(_runs.c.id > last)
            .order_by(_runs.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for run_id, counts, account_ref, host, pid, enqueued_at in rows:
            restored = dict(counts or {})
            if host is not None or pid is not None:
                restored["owner"] = {"host": host, "pid": pid}
            if enqueued_at is not None:
                restored["enqueued_at"] = _aware(enqueued_at).isoformat()
            if account_ref is not None:
                restored["account_ref"] = account_ref
            if restored != (counts or {}):
                bind.execute(_runs.update().where(_runs.c.id == run_id).values(counts=restored))
        last = rows[-1][0]
    for column in ("owner_pid", "owner_host", "enqueued_at", "account_ref"):
        op.drop_column("sync_run", column)


def _rows(bind: sa.Connection) -> Iterator[tuple[int, Any]]:
    """Every run's id and counts, a batch at a time (runs pile up over the years)."""
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_runs.c.id, _runs.c.counts)
            .where(_runs.c.id > last)
            .order_by(_runs.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield from ((run_id, counts) for run_id, counts in rows)
        last = rows[-1][0]


def _moved_out(counts: Any, dialect: str) -> dict[str, Any] | None:
    """The new column values and the counts left, or None when the row needs no change."""
    if not isinstance(counts, dict):
        return {"counts": {}} if counts is not None else None
    values: dict[str, Any] = {}
    owner = counts.get("owner")
    if isinstance(owner, dict):
        host, pid = owner.get("host"), owner.get("pid")
        values["owner_host"] = host if isinstance(host, str) else None
        values["owner_pid"] = pid if isinstance(pid, int) and not isinstance(pid, bool) else None
    enqueued = counts.get("enqueued_at")
    if isinstance(enqueued, str):
        try:
            at = _aware(datetime.fromisoformat(enqueued)).astimezone(UTC)
        except ValueError:
            at = None
        if at is not None:
            # SQLite keeps UTC without a zone, as the application's column type does.
            values["enqueued_at"] = at.replace(tzinfo=None) if dialect == "sqlite" else at
    account_ref = counts.get("account_ref")
    if isinstance(account_ref, str):
        values["account_ref"] = account_ref
    numbers = {
        str(key): value
        for key, value in counts.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }
    if numbers != counts:
        values["counts"] = numbers
    return values or None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
