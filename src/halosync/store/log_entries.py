"""Rows of ``log_entry``: the workspace activity log. What is logged, its words and levels,
and the page it is shown in live in :mod:`halosync.sync.activity`; this is only its SQL.

Its statements are Core statements on :data:`halosync.store.tables.log_entry`, so a page is
read on a Core connection (``halosync logs`` loads no ORM) as well as in a session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, func, select

from halosync.store.tables import log_entry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class LogEntryRepository:
    """One workspace's log entries."""

    def __init__(self, session: Session | Connection, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def add(
        self,
        level: str,
        title: str,
        details: str | None,
        *,
        run_id: int | None,
        created_at: datetime,
    ) -> None:
        """Append an entry in the caller's transaction (a session's: it is flushed with the
        run it names)."""
        from halosync.store.models import LogEntry

        assert not isinstance(self.session, Connection), "entries are added in a session"
        self.session.add(
            LogEntry(
                workspace_id=self.workspace_id,
                run_id=run_id,
                level=level,
                title=title,
                details=details,
                created_at=created_at,
            )
        )

    def latest_details(self, title: str) -> str | None:
        """The details of the newest entry titled ``title`` (None if there is none)."""
        return self.session.scalar(
            select(log_entry.c.details)
            .where(log_entry.c.workspace_id == self.workspace_id, log_entry.c.title == title)
            .order_by(log_entry.c.created_at.desc(), log_entry.c.id.desc())
            .limit(1)
        )

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete the entries created before ``cutoff``; how many went."""
        result = self.session.execute(
            delete(log_entry).where(
                log_entry.c.workspace_id == self.workspace_id, log_entry.c.created_at < cutoff
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
    ) -> tuple[Sequence[Row[Any, Any, Any, Any, Any, Any]], int, dict[str, int]]:
        """One page of the entries since ``since``, newest first, optionally of one level or
        one run (rows of id, level, title, details, created_at, run_id); with how many match
        and the count per level of every entry since then."""
        table = log_entry.c
        scope = (table.workspace_id == self.workspace_id, table.created_at >= since)
        query = select(
            table.id, table.level, table.title, table.details, table.created_at, table.run_id
        ).where(*scope)
        if level is not None:
            query = query.where(table.level == level)
        if run_id is not None:
            query = query.where(table.run_id == run_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.execute(
            query.order_by(table.created_at.desc(), table.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        ).all()
        by_level: dict[str, int] = {
            str(level): int(count)
            for level, count in self.session.execute(
                select(table.level, func.count()).where(*scope).group_by(table.level)
            )
        }
        return rows, int(total), by_level
