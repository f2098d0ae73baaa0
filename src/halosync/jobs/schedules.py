"""Per-workspace schedules of the customers pull and the usage push (defaults when unset)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.models import RUN_KINDS, RunKind
from halosync.domain.schedule import (
    DEFAULT_CUSTOMERS_SCHEDULE,
    DEFAULT_USAGE_SCHEDULE,
    Schedule,
    next_run_after,
)
from halosync.errors import ValidationFailedError
from halosync.store.base import utcnow
from halosync.store.models import SyncSchedule
from halosync.store.schedules import ScheduleRepository
from halosync.store.workspaces import WorkspaceRepository

DEFAULT_SCHEDULES: dict[RunKind, Schedule] = {
    "customers": DEFAULT_CUSTOMERS_SCHEDULE,
    "usage": DEFAULT_USAGE_SCHEDULE,
}


def parse_kind(value: str) -> RunKind:
    """A sync kind from user input, or a clear error naming the allowed ones."""
    clean = value.strip().lower()
    for kind in RUN_KINDS:
        if kind == clean:
            return kind
    raise ValidationFailedError(
        f"Sync kind {value!r} is not valid.", fix="Use 'customers' or 'usage'."
    )


@dataclass(frozen=True)
class ScheduleSetting:
    """One workspace's schedule of one kind of sync, as the UI/API/CLI show it."""

    kind: RunKind
    schedule: Schedule
    enabled: bool
    is_default: bool
    last_slot_at: datetime | None
    not_before: datetime
    """Slots before this (when the schedule was last saved) never fire."""
    runs: bool
    """The workspace's schedules run: its setup is finished and it has a Halo connection."""

    def next_run(self, now: datetime) -> datetime | None:
        """The next automatic run after ``now``; None when the schedule is off or the
        workspace's schedules do not run yet (GET /schedules, the overview and the CLI)."""
        return next_run_after(self.schedule, now) if self.enabled and self.runs else None

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        upcoming = self.next_run(now or utcnow())
        return {
            "kind": self.kind,
            "schedule": str(self.schedule),
            "description": self.schedule.describe(),
            "enabled": self.enabled,
            "default": self.is_default,
            "last_slot_at": self.last_slot_at.isoformat() if self.last_slot_at else None,
            "next_run_at": upcoming.isoformat() if upcoming else None,
        }


def _setting(
    kind: RunKind, row: SyncSchedule | None, created_at: datetime, runs: bool
) -> ScheduleSetting:
    if row is None:
        return ScheduleSetting(kind, DEFAULT_SCHEDULES[kind], True, True, None, created_at, runs)
    return ScheduleSetting(
        kind, Schedule.parse(row.spec), row.enabled, False, row.last_slot_at, row.updated_at, runs
    )


def _runs(session: Session, workspace_id: int) -> bool:
    return bool(WorkspaceRepository(session).finished_and_connected(workspace_id))


def get_schedules(session: Session, workspace_id: int) -> dict[RunKind, ScheduleSetting]:
    """Both schedules of the workspace (the defaults where none was saved)."""
    workspace = WorkspaceRepository(session).get(workspace_id)
    rows = ScheduleRepository(session).of_workspace(workspace_id)
    runs = _runs(session, workspace_id)
    return {kind: _setting(kind, rows.get(kind), workspace.created_at, runs) for kind in RUN_KINDS}


def set_schedule(
    session: Session,
    workspace_id: int,
    kind: RunKind,
    schedule: Schedule,
    *,
    enabled: bool = True,
    now: datetime | None = None,
) -> ScheduleSetting:
    """Save the workspace's schedule of ``kind``; slots before ``now`` never fire."""
    kind = parse_kind(kind)
    workspace = WorkspaceRepository(session).get(workspace_id)
    now = now or utcnow()
    schedules = ScheduleRepository(session)
    row = schedules.locked(workspace.id, kind)
    if row is None:
        row = schedules.add(SyncSchedule(workspace_id=workspace.id, kind=kind))
    row.spec = str(schedule)
    row.enabled = enabled
    row.updated_at = now
    session.flush()
    return _setting(kind, row, workspace.created_at, _runs(session, workspace.id))
