"""Rows of ``sync_schedule``: each workspace's saved schedule per sync kind. The rules (the
defaults, when a slot is due) live in :mod:`halosync.jobs.schedules` and
:mod:`halosync.domain.schedule`; this is only their SQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.store.models import SyncSchedule


class ScheduleRepository:
    """Saved sync schedules."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def of_workspace(self, workspace_id: int) -> dict[str, SyncSchedule]:
        """The workspace's saved schedules by kind (kinds never saved are missing)."""
        return {
            row.kind: row
            for row in self.session.scalars(
                select(SyncSchedule).where(SyncSchedule.workspace_id == workspace_id)
            )
        }

    def every(self) -> dict[tuple[int, str], SyncSchedule]:
        """Every saved schedule of every workspace, by (workspace id, kind)."""
        return {
            (row.workspace_id, row.kind): row for row in self.session.scalars(select(SyncSchedule))
        }

    def get(self, workspace_id: int, kind: str) -> SyncSchedule | None:
        """The saved schedule of ``kind``, if one was saved."""
        return self.session.scalar(
            select(SyncSchedule).where(
                SyncSchedule.workspace_id == workspace_id, SyncSchedule.kind == kind
            )
        )

    def locked(self, workspace_id: int, kind: str) -> SyncSchedule | None:
        """The saved schedule of ``kind``, locked for update until the transaction ends."""
        return self.session.scalar(
            select(SyncSchedule)
            .where(SyncSchedule.workspace_id == workspace_id, SyncSchedule.kind == kind)
            .with_for_update()
        )

    def add(self, row: SyncSchedule) -> SyncSchedule:
        """Store a new schedule row."""
        self.session.add(row)
        return row
