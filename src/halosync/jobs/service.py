"""The jobs facade every entry point calls: request a sync, read the tiles, edit schedules.

A requested sync becomes a ``sync_run`` row in state ``queued`` *before* it is enqueued,
so the database's one-active-run-per-workspace index refuses a second request at once
("Sync in progress"), whichever process or worker made the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.ages import humanize_age
from halosync.domain.cooldown import cooldown_message, cooldown_remaining
from halosync.domain.models import RunKind, RunTrigger
from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.jobs.queue import JobQueue
from halosync.jobs.schedules import (
    ScheduleSetting,
    get_schedules,
    parse_kind,
    set_schedule,
)
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.base import utcnow
from halosync.store.connections import connection_test_state
from halosync.store.database import Database
from halosync.store.usage import AccountRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.errors import SyncInProgressError
from halosync.sync.progress import SyncProgress
from halosync.sync.runs import (
    active_sync,
    enqueue_run,
    fail_queued_run,
    last_full_sync_finished_at,
    reap_stale_runs,
)

log = get_logger(__name__)

MANUAL_TRIGGERS: tuple[RunTrigger, ...] = ("manual", "api")
"""Triggers a person made (UI, CLI, API); only these are held back by the cooldown."""


class CooldownError(HalosyncError):
    """A manual full usage sync was refused: the previous one finished too recently."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        remaining = timedelta(minutes=minutes)
        super().__init__(cooldown_message(remaining) or "You can trigger the next sync now")


@dataclass(frozen=True)
class SyncOverview:
    """What the dashboard tiles and the countdown show for one workspace."""

    in_progress: bool
    running_kind: RunKind | None
    running_run_id: int | None
    cooldown_message: str | None
    cooldown_minutes: int
    last_customers_sync_at: datetime | None
    last_usage_sync_at: datetime | None
    next_customers_at: datetime | None
    next_usage_at: datetime | None
    now: datetime
    progress: SyncProgress | None = None
    """How far the running sync has come (as recorded with its heartbeat)."""
    setup_finished: bool = True
    """False until the setup wizard's Finish: no automatic run happens before it."""

    @property
    def last_customers_age(self) -> str | None:
        """ "Last sync to platform" tile: "9h ago" (None before the first pull)."""
        at = self.last_customers_sync_at
        return humanize_age(at, self.now) if at else None

    @property
    def last_usage_age(self) -> str | None:
        """ "Last sync to PSA" tile: "3 days ago" (None before the first push)."""
        at = self.last_usage_sync_at
        return humanize_age(at, self.now) if at else None

    @property
    def next_auto_sync_at(self) -> datetime | None:
        """The sooner of the two next automatic runs (the countdown)."""
        upcoming = [at for at in (self.next_customers_at, self.next_usage_at) if at]
        return min(upcoming) if upcoming else None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape (ISO 8601 UTC timestamps)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "in_progress": self.in_progress,
            "running_kind": self.running_kind,
            "running_run_id": self.running_run_id,
            "progress": self.progress.to_json() if self.progress else None,
            "cooldown_message": self.cooldown_message,
            "cooldown_minutes": self.cooldown_minutes,
            "last_customers_sync_at": iso(self.last_customers_sync_at),
            "last_customers_age": self.last_customers_age,
            "last_usage_sync_at": iso(self.last_usage_sync_at),
            "last_usage_age": self.last_usage_age,
            "next_customers_at": iso(self.next_customers_at),
            "next_usage_at": iso(self.next_usage_at),
            "next_auto_sync_at": iso(self.next_auto_sync_at),
            "setup_finished": self.setup_finished,
        }


def last_manual_full_usage_sync(session: Session, workspace_id: int) -> datetime | None:
    """When the latest manual (UI/CLI/API) all-accounts usage push completed."""
    return last_full_sync_finished_at(session, workspace_id, kind="usage", triggers=MANUAL_TRIGGERS)


def _cooldown(session: Session, workspace_id: int, minutes: int, now: datetime) -> timedelta:
    return cooldown_remaining(last_manual_full_usage_sync(session, workspace_id), minutes, now)


def has_connection(session: Session, workspace_id: int) -> bool:
    """Whether the workspace has a Halo connection (scheduled runs need one)."""
    return connection_test_state(session, workspace_id) is not None


def sync_overview(session: Session, workspace_id: int, now: datetime) -> SyncOverview:
    """Tiles, the "Sync in progress" state, the cooldown and the next automatic runs."""
    workspace = WorkspaceRepository(session).get(workspace_id)
    active = active_sync(session, workspace_id)
    remaining = _cooldown(session, workspace_id, workspace.sync_cooldown_minutes, now)
    schedules = get_schedules(session, workspace_id)
    running_kind: RunKind | None = None
    if active is not None:
        running_kind = parse_kind(active.kind)
    return SyncOverview(
        in_progress=active is not None,
        running_kind=running_kind,
        running_run_id=active.id if active is not None else None,
        cooldown_message=cooldown_message(remaining),
        cooldown_minutes=math.ceil(remaining.total_seconds() / 60) if remaining else 0,
        last_customers_sync_at=workspace.last_customers_sync_at,
        last_usage_sync_at=workspace.last_usage_sync_at,
        next_customers_at=schedules["customers"].next_run(now),
        next_usage_at=schedules["usage"].next_run(now),
        now=now,
        progress=active.progress if active is not None and active.status == "running" else None,
        setup_finished=workspace.setup_finished_at is not None,
    )


def _account_id(session: Session, workspace_id: int, account_ref: str) -> int:
    account_id = AccountRepository(session, workspace_id).id_by_ref(account_ref)
    if account_id is None:
        raise NotFoundError(
            f"Workspace has no account with reference {account_ref!r}.",
            fix="Check the reference (see the imported usage data).",
        )
    return account_id


def request_sync(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    *,
    kind: RunKind,
    account_ref: str | None = None,
    trigger: RunTrigger = "manual",
    now: datetime | None = None,
) -> int:
    """Queue a sync of the workspace and return the new run's id.

    Raises :class:`SyncInProgressError` while another sync of the workspace is queued or
    running (a per-account sync included), :class:`CooldownError` for a manual
    all-accounts usage push within the workspace's cooldown, :class:`NotFoundError` for an
    unknown account. Dry runs are never queued: run them inline with ``run_usage_sync``.
    """
    kind = parse_kind(kind)
    if account_ref is not None and kind != "usage":
        raise ValidationFailedError(
            "Only a usage sync can be limited to one account.",
            fix="Leave out the account, or use kind 'usage'.",
        )
    now = now or utcnow()
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        name = workspace.name
        # Liveness is about real time, whatever clock the caller reasons with.
        reap_stale_runs(session, workspace_id, settings.sync_stale_run_seconds)
        account_id = _account_id(session, workspace_id, account_ref) if account_ref else None
        if trigger in MANUAL_TRIGGERS and kind == "usage" and account_id is None:
            remaining = _cooldown(session, workspace_id, workspace.sync_cooldown_minutes, now)
            if remaining > timedelta(0):
                raise CooldownError(max(1, math.ceil(remaining.total_seconds() / 60)))
    run_id = enqueue_run(
        database,
        workspace_id,
        kind=kind,
        trigger=trigger,
        account_id=account_id,
        account_ref=account_ref,
    )
    try:
        queue.enqueue_run(run_id)
    except HalosyncError as error:
        fail_queued_run(database, run_id, str(error))
        raise
    log.info("sync_queued", workspace=name, run_id=run_id, kind=kind, trigger=trigger)
    return run_id


__all__ = [
    "CooldownError",
    "ScheduleSetting",
    "SyncInProgressError",
    "SyncOverview",
    "get_schedules",
    "request_sync",
    "set_schedule",
    "sync_overview",
]
