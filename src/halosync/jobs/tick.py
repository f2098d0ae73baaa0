"""The one-minute tick: enqueue due scheduled runs, reap dead runs, prune old log entries
and runs (with their results).

Every worker (and the embedded process) ticks. A due slot becomes a ``sync_run`` row
whose unique ``schedule_key`` ("<workspace>:<kind>:<slot>") only one tick can insert,
so a run is enqueued once however many processes tick; ``due_run`` only ever offers the
latest missed slot, so after downtime a schedule catches up once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from halosync.domain.models import RUN_KINDS, RunKind
from halosync.domain.schedule import Schedule, due_run
from halosync.errors import ValidationFailedError
from halosync.jobs.queue import JobQueue, QueueUnavailableError
from halosync.jobs.schedules import DEFAULT_SCHEDULES, ScheduleSetting
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import SyncSchedule
from halosync.store.schedules import ScheduleRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.errors import SyncInProgressError
from halosync.sync.runs import (
    Pruned,
    ScheduleSlotTakenError,
    enqueue_run,
    prune_history,
    reap_all_stale_runs,
    runs_to_resend,
    vouch_for_queued_runs,
)

log = get_logger(__name__)

PRUNE_EVERY = timedelta(hours=1)


def _aware(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands them back naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def schedule_key(workspace_id: int, kind: str, slot: datetime) -> str:
    """The unique key of the run a slot enqueues."""
    return f"{workspace_id}:{kind}:{slot.isoformat()}"


def schedule_clock(settings: Settings) -> datetime:
    """Now, as schedules see it (shifted by ``HALOSYNC_JOBS_CLOCK_OFFSET_SECONDS``)."""
    return utcnow() + timedelta(seconds=settings.jobs_clock_offset_seconds)


@dataclass
class TickReport:
    """What one tick did."""

    enqueued: list[int] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    already_enqueued: list[str] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    reaped: list[int] = field(default_factory=list)
    # Log entries and runs (with their results) past retention deleted by this tick.
    pruned: int = 0
    pruned_runs: int = 0


@dataclass(frozen=True)
class _Candidate:
    workspace_id: int
    kind: RunKind
    setting: ScheduleSetting


def _candidates(database: Database) -> list[_Candidate]:
    """Every connected workspace whose setup was finished × kind with its schedule (default
    where none saved). Slots before Finish never fire: schedules start at Finish."""
    with database.session() as session:
        workspaces = WorkspaceRepository(session).finished_and_connected()
        rows = ScheduleRepository(session).every()
        found: list[_Candidate] = []
        for workspace_id, finished_at in workspaces:
            for kind in RUN_KINDS:
                row = rows.get((workspace_id, kind))
                if row is None:
                    setting = ScheduleSetting(
                        kind, DEFAULT_SCHEDULES[kind], True, True, None, finished_at, True
                    )
                else:
                    try:
                        schedule = Schedule.parse(row.spec)
                    except ValidationFailedError as problem:
                        # One unreadable row (edited by hand) must not stop every schedule.
                        log.warning(
                            "schedule_unreadable", workspace_id=workspace_id, kind=kind,
                            error=str(problem),
                        )  # fmt: skip
                        continue
                    setting = ScheduleSetting(
                        kind,
                        schedule,
                        row.enabled,
                        False,
                        row.last_slot_at,
                        max(_aware(row.updated_at), _aware(finished_at)),
                        True,
                    )
                found.append(_Candidate(workspace_id, kind, setting))
    return found


def _enqueue_slot(
    database: Database, candidate: _Candidate, slot: datetime, report: TickReport
) -> int | None:
    key = schedule_key(candidate.workspace_id, candidate.kind, slot)

    def record_slot(session: Session) -> None:
        schedules = ScheduleRepository(session)
        row = schedules.get(candidate.workspace_id, candidate.kind)
        if row is None:
            row = SyncSchedule(
                workspace_id=candidate.workspace_id,
                kind=candidate.kind,
                spec=str(candidate.setting.schedule),
                enabled=True,
                updated_at=candidate.setting.not_before,
            )
            schedules.add(row)
        row.last_slot_at = slot
        session.flush()

    try:
        return enqueue_run(
            database,
            candidate.workspace_id,
            kind=candidate.kind,
            trigger="schedule",
            schedule_key=key,
            then=record_slot,
        )
    except ScheduleSlotTakenError:
        report.already_enqueued.append(key)
    except SyncInProgressError:
        # Another sync of the workspace is queued or running: try again next tick.
        report.busy.append(key)
    return None


def _requeue_lost(
    database: Database, queue: JobQueue, report: TickReport, requeue_after: timedelta
) -> None:
    """Keep queued runs alive (a live tick vouches for them) and resend old ones."""
    resend = runs_to_resend(database, requeue_after)
    vouch_for_queued_runs(database)
    for run_id in resend:
        queue.enqueue_run(run_id)
        report.requeued.append(run_id)


def _reap(database: Database, settings: Settings, report: TickReport) -> None:
    report.reaped += reap_all_stale_runs(database, settings.sync_stale_run_seconds)


def prune_logs(database: Database, now: datetime | None = None) -> Pruned:
    """Prune every workspace's log entries, runs and run results older than its retention."""
    pruned = Pruned()
    with database.session() as session:
        for workspace_id, days in WorkspaceRepository(session).log_retentions():
            pruned += prune_history(session, workspace_id, days, now=now)
    return pruned


class Ticker:
    """One process's tick: remembers when it last pruned, so pruning runs hourly."""

    def __init__(self, database: Database, settings: Settings, queue: JobQueue) -> None:
        self.database = database
        self.settings = settings
        self.queue = queue
        self._last_prune: datetime | None = None

    def tick(self, now: datetime | None = None) -> TickReport:
        """Reap, enqueue due runs, resend lost ones, prune; ``now`` is the schedule clock."""
        now = now or schedule_clock(self.settings)
        report = TickReport()
        # Vouch for queued runs first: their messages may still wait in a persistent queue.
        requeue_after = timedelta(seconds=self.settings.jobs_requeue_seconds)
        _requeue_lost(self.database, self.queue, report, requeue_after)
        _reap(self.database, self.settings, report)
        for candidate in _candidates(self.database):
            setting = candidate.setting
            if not setting.enabled:
                continue
            slot = due_run(
                setting.schedule, setting.last_slot_at, now, not_before=setting.not_before
            )
            if slot is None:
                continue
            run_id = _enqueue_slot(self.database, candidate, slot, report)
            if run_id is not None:
                try:
                    self.queue.enqueue_run(run_id)
                except QueueUnavailableError as problem:
                    # The run stays queued; _requeue_lost sends it again later.
                    log.warning("scheduled_sync_not_sent", run_id=run_id, error=str(problem))
                    continue
                report.enqueued.append(run_id)
                log.info(
                    "scheduled_sync_queued",
                    workspace_id=candidate.workspace_id,
                    kind=candidate.kind,
                    slot=slot.isoformat(),
                    run_id=run_id,
                )
        real_now = utcnow()
        if self._last_prune is None or real_now - self._last_prune >= PRUNE_EVERY:
            pruned = prune_logs(self.database)
            report.pruned, report.pruned_runs = pruned.log_entries, pruned.runs
            self._last_prune = real_now
        return report
