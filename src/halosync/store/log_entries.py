"""Rows of ``log_entry``: the workspace activity log. What is logged, its words and levels,
and the page it is shown in live in :mod:`halosync.sync.activity`; this is only its SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from halosync.store.models import LogEntry


class LogEntryRepository:
    """One workspace's log entries."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def add(self, entry: LogEntry) -> None:
        """Append an entry in the caller's transaction."""
        self.session.add(entry)

    def latest_details(self, title: str) -> str | None:
        """The details of the newest entry titled ``title`` (None if there is none)."""
        return self.session.scalar(
            select(LogEntry.details)
            .where(LogEntry.workspace_id == self.workspace_id, LogEntry.title == title)
            .order_by(LogEntry.created_at.desc(), LogEntry.id.desc())
            .limit(1)
        )

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete the entries created before ``cutoff``; how many went."""
        result = self.session.execute(
            delete(LogEntry).where(
                LogEntry.workspace_id == self.workspace_id, LogEntry.created_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def page(
        self,
        since: datetime,
        *,
        level: str | None,
        run_id: int | None,
        page: int,
        page_size: int,
    ) -> tuple[Sequence[LogEntry], int, dict[str, int]]:
        """One page of the entries since ``since``, newest first, optionally of one level or
        one run; with how many match and the count per level of every entry since then."""
        scope = (LogEntry.workspace_id == self.workspace_id, LogEntry.created_at >= since)
        query = select(LogEntry).where(*scope)
        if level is not None:
            query = query.where(LogEntry.level == level)
        if run_id is not None:
            query = query.where(LogEntry.run_id == run_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(LogEntry.created_at.desc(), LogEntry.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        by_level: dict[str, int] = {
            str(level): int(count)
            for level, count in self.session.execute(
                select(LogEntry.level, func.count()).where(*scope).group_by(LogEntry.level)
            )
        }
        return rows, int(total), by_level
