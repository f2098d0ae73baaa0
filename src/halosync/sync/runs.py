"""Sync runs, one owner: enqueue, claim, start, heartbeat, finish, reap, and the read model.

"One sync per workspace" is the database's job: a partial unique index on ``sync_run``
refuses a second queued/running non-dry-run row, and exactly that refusal becomes
:class:`SyncInProgressError`. A run whose process died (SIGKILL, power cut) is reaped
before a new one starts: its owner process is gone from this host, or its heartbeat
stopped longer ago than ``Settings.sync_stale_run_seconds``.

Both sync kinds run inside :class:`RunLifecycle`, which keeps the heartbeat while the
sync works (recording the run's progress with it: :class:`ProgressRecorder`) and, on the
way out, records how it ended: ``succeeded``, ``halted`` (a configuration the user must
fix) or ``failed``, as :func:`run_outcome_of` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.models import (
    ACTIVE_RUN_STATUSES,
    FinalRunStatus,
    RunKind,
    RunTrigger,
)
from halosync.domain.planner import SEVERAL_LINES_NOTE
from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.halopsa.errors import HaloConfigurationError
from halosync.logging import get_logger
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import SyncRun
from halosync.store.runs import ActiveRunExists, ScheduleSlotTaken, SyncRunRepository
from halosync.store.usage import Page
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import prune_log_entries
from halosync.sync.errors import RunNotQueuedError, SyncInProgressError
from halosync.sync.progress import ProgressObserver, ProgressTracker, SyncProgress

log = get_logger(__name__)

_HOST = socket.gethostname()

HALTING_ERRORS: tuple[type[Exception], ...] = (
    HaloConfigurationError,
    NotFoundError,
    ValidationFailedError,
)
"""A run stopped by one of these is ``halted``: the connection, Halo's set-up or the data
must change before a sync can succeed. Every other error makes it ``failed``."""


class ScheduleSlotTakenError(HalosyncError):
    """Another process already enqueued the run of this schedule slot."""

    def __init__(self, key: str) -> None:
        super().__init__(f"The scheduled run {key} is already enqueued.")
        self.key = key


def run_outcome_of(error: Exception) -> tuple[FinalRunStatus, str]:
    """How a run that raised ``error`` ends, and the reason it shows (one place for both)."""
    if isinstance(error, HalosyncError):
        # The reason is stored and read by CLI, API and browser users alike: a fix said
        # differently to each is left out (the message says what is wrong on its own).
        reason = error.message if error.fixes else str(error)
        return ("halted" if isinstance(error, HALTING_ERRORS) else "failed"), reason
    return "failed", f"Unexpected error: {type(error).__name__}: {error}"


# --- Writing: the life of a run -------------------------------------------------------


def _workspace_name(database: Database, workspace_id: int) -> str:
    with database.session() as session:
        return WorkspaceRepository(session).get(workspace_id).name


def _add_run(
    database: Database,
    workspace_id: int,
    *,
    kind: RunKind,
    trigger: RunTrigger,
    account_id: int | None,
    account_ref: str | None,
    running: bool,
    dry_run: bool = False,
    schedule_key: str | None = None,
    then: Callable[[Session], None] | None = None,
) -> int:
    """Insert a queued run, or a running one owned by this process; see the callers."""
    now = utcnow()
    run = SyncRun(
        workspace_id=workspace_id,
        kind=kind,
        trigger=trigger,
        dry_run=dry_run,
        account_id=account_id,
        account_ref=account_ref,
        status="running" if running else "queued",
        created_at=now,
        heartbeat_at=now,
        counts={},
        schedule_key=schedule_key,
    )
    if running:
        run.started_at, run.owner_host, run.owner_pid = now, _HOST, os.getpid()
    else:
        run.enqueued_at = now
    try:
        with database.session() as session:
            run_id = SyncRunRepository(session).add(run)
            if then is not None:
                then(session)
            return run_id
    except ActiveRunExists:
        raise SyncInProgressError(_workspace_name(database, workspace_id)) from None
    except ScheduleSlotTaken:
        raise ScheduleSlotTakenError(schedule_key or "") from None


def enqueue_run(
    database: Database,
    workspace_id: int,
    *,
    kind: RunKind,
    trigger: RunTrigger,
    account_id: int | None = None,
    account_ref: str | None = None,
    schedule_key: str | None = None,
    then: Callable[[Session], None] | None = None,
) -> int:
    """Insert a queued run (before its message is sent) and return its id.

    ``then`` runs in the same transaction (the tick records the schedule slot). Raises
    :class:`SyncInProgressError` while the workspace has a queued or running sync and
    :class:`ScheduleSlotTakenError` when another process enqueued ``schedule_key``.
    """
    return _add_run(
        database,
        workspace_id,
        kind=kind,
        trigger=trigger,
        account_id=account_id,
        account_ref=account_ref,
        running=False,
        schedule_key=schedule_key,
        then=then,
    )


def start_run(
    database: Database,
    workspace_id: int,
    *,
    kind: RunKind,
    trigger: RunTrigger,
    dry_run: bool = False,
    account_id: int | None = None,
    account_ref: str | None = None,
    stale_after_seconds: float = 120.0,
    run_id: int | None = None,
) -> int:
    """Start a run owned by this process and return its id.

    Without ``run_id`` a new row is inserted as running (or :class:`SyncInProgressError`);
    with it, the queued row is claimed: only one worker turns it from queued to running,
    the others get :class:`RunNotQueuedError`.
    """
    now = utcnow()
    with database.session() as session:
        reap_stale_runs(session, workspace_id, stale_after_seconds, now=now)
    if run_id is not None:
        return claim_run(database, run_id)
    return _add_run(
        database,
        workspace_id,
        kind=kind,
        trigger=trigger,
        account_id=account_id,
        account_ref=account_ref,
        running=True,
        dry_run=dry_run,
    )


def claim_run(database: Database, run_id: int) -> int:
    """Turn the queued run into one this process runs, or :class:`RunNotQueuedError`."""
    with database.session() as session:
        if not SyncRunRepository(session).claim(run_id, host=_HOST, pid=os.getpid(), now=utcnow()):
            raise RunNotQueuedError(run_id)
    return run_id


def fail_queued_run(database: Database, run_id: int, error: str) -> bool:
    """Close a run refused before it started (queue down, account deleted since)."""
    with database.session() as session:
        return SyncRunRepository(session).fail_if_queued(run_id, error, utcnow())


def beat(database: Database, run_id: int, progress: SyncProgress | None = None) -> None:
    """Record that the run is still alive (and, when given, how far it has come)."""
    with database.session() as session:
        # The time is read once the transaction holds the write lock (SQLite's BEGIN
        # IMMEDIATE may wait for it up to its busy timeout): a beat written late must say
        # the run was alive when written, not when it began to wait.
        session.connection()
        SyncRunRepository(session).beat(
            run_id, utcnow(), progress.to_json() if progress is not None else None
        )


def finish_run(
    session: Session,
    run_id: int,
    status: FinalRunStatus,
    counts: Mapping[str, int],
    *,
    error: str | None = None,
    now: datetime | None = None,
    progress: SyncProgress | None = None,
) -> None:
    """Close the run in the caller's transaction (with its last progress, when given)."""
    run = SyncRunRepository(session).get(run_id)
    if run is None:
        return
    run.status = status
    run.counts = dict(counts)
    if progress is not None:
        run.progress = replace(progress, waiting_until=None).to_json()
    run.error = error
    run.finished_at = now or utcnow()
    run.heartbeat_at = run.finished_at


def _process_gone(host: str | None, pid: int | None) -> bool:
    """True when the run's owner was a process on this host that no longer exists."""
    if host != _HOST or pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def reap_stale_runs(
    session: Session, workspace_id: int, stale_after_seconds: float, *, now: datetime | None = None
) -> list[int]:
    """Mark dead queued/running runs of the workspace failed; returns their ids."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=stale_after_seconds)
    reaped: list[int] = []
    for run in SyncRunRepository(session).active(workspace_id):
        seen = run.heartbeat_at or run.started_at or run.created_at
        if _process_gone(run.owner_host, run.owner_pid) or seen < cutoff:
            run.status = "failed"
            run.finished_at = now
            run.error = (
                "The process running this sync stopped without finishing it (killed or "
                "crashed); the next sync picks up where it left off."
            )
            reaped.append(run.id)
    if reaped:
        session.flush()
        log.warning("stale_sync_runs_reaped", workspace_id=workspace_id, runs=reaped)
    return reaped


def reap_all_stale_runs(database: Database, stale_after_seconds: float) -> list[int]:
    """Reap dead runs of every workspace that has an active run."""
    reaped: list[int] = []
    with database.session() as session:
        for workspace_id in SyncRunRepository(session).workspaces_with_active_runs():
            reaped += reap_stale_runs(session, workspace_id, stale_after_seconds)
    return reaped


def vouch_for_queued_runs(database: Database, now: datetime | None = None) -> None:
    """Refresh the heartbeat of every queued run: a live consumer will get to them.

    Without a live jobs process for longer than the heartbeat timeout, the reaper closes
    queued runs, so a queue nobody consumes never locks a workspace for good.
    """
    with database.session() as session:
        SyncRunRepository(session).vouch_for_queued(now or utcnow())


def runs_to_resend(database: Database, resend_after: timedelta) -> list[int]:
    """Queued runs whose message went out ``resend_after`` ago or more, marked as sent now.

    A message can be lost (a worker killed between taking it and claiming the run); a
    duplicate is harmless, since only one worker can claim a queued run.
    """
    now = utcnow()
    resend: list[int] = []
    with database.session() as session:
        for run in SyncRunRepository(session).queued():
            if now - (run.enqueued_at or run.created_at) >= resend_after:
                run.enqueued_at = now
                resend.append(run.id)
    return resend


@dataclass(frozen=True)
class QueuedRun:
    """What a worker needs to execute a queued run."""

    run_id: int
    workspace_id: int
    kind: RunKind
    trigger: RunTrigger
    account_ref: str | None


def queued_run(database: Database, run_id: int) -> QueuedRun | None:
    """The run if it is still queued (None when another worker took it or it was closed)."""
    with database.session() as session:
        run = SyncRunRepository(session).get(run_id)
        if run is None or run.status != "queued":
            return None
        kind: RunKind = "customers" if run.kind == "customers" else "usage"
        trigger: RunTrigger = "schedule"
        if run.trigger in ("manual", "api"):
            trigger = "manual" if run.trigger == "manual" else "api"
        return QueuedRun(run.id, run.workspace_id, kind, trigger, run.account_ref)


PROGRESS_RECORD_SECONDS = 1.0
"""A run's changed progress reaches the database within about this long (a beat each)."""


class ProgressRecorder:
    """The run's progress as the heartbeat records it: the newest, and whether it changed
    since the last beat took it (a :class:`ProgressObserver`)."""

    def __init__(self) -> None:
        self._latest: SyncProgress | None = None
        self._changed = False

    def progress(self, progress: SyncProgress) -> None:
        """Keep ``progress`` for the next beat."""
        self._latest, self._changed = progress, True

    def take(self) -> SyncProgress | None:
        """The progress to record now: the newest, or None when it has not changed."""
        if not self._changed:
            return None
        self._changed = False
        return self._latest

    def not_recorded(self) -> None:
        """The beat that took the progress failed: the next one records it again."""
        self._changed = self._latest is not None


@contextlib.asynccontextmanager
async def heartbeat(
    database: Database,
    run_id: int,
    interval_seconds: float,
    recorder: ProgressRecorder | None = None,
) -> AsyncIterator[None]:
    """Keep the run's heartbeat fresh while the block runs, recording its progress with it.

    With a ``recorder`` the loop looks every :data:`PROGRESS_RECORD_SECONDS` (or sooner)
    and beats as soon as the progress changed; otherwise every ``interval_seconds``.
    """
    tick = min(interval_seconds, PROGRESS_RECORD_SECONDS) if recorder else interval_seconds

    async def loop() -> None:
        last_beat = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            progress = recorder.take() if recorder is not None else None
            if progress is None and time.monotonic() - last_beat < interval_seconds - tick / 2:
                continue
            try:
                await asyncio.to_thread(beat, database, run_id, progress)
            except Exception as error:  # a missed beat must not kill the sync itself
                log.warning("sync_heartbeat_failed", run_id=run_id, error=str(error))
                if recorder is not None:
                    recorder.not_recorded()
            else:
                last_beat = time.monotonic()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def heartbeat_interval(stale_after_seconds: float) -> float:
    """Beat often enough that a live run is never mistaken for a dead one."""
    return max(0.2, min(30.0, stale_after_seconds / 4))


@dataclass(frozen=True)
class RunEnd:
    """How a run ended: status, the reason when it did not succeed, counts, when, how long."""

    run_id: int
    status: FinalRunStatus
    error: str | None
    counts: dict[str, int]
    finished_at: datetime
    duration_ms: int


class RunLifecycle:
    """One started run, from the sync's first step to its recorded end.

    While open it keeps the heartbeat and records the run's progress with it: the sync
    reports to :attr:`progress`, which also tells ``observers`` (a terminal's progress
    bar). On exit it decides the outcome (no exception:
    ``succeeded``; otherwise :func:`run_outcome_of`), then closes the row and calls
    ``on_finish`` in one transaction, retried after a dropped connection so the run never
    keeps holding the workspace. The exception is recorded, not re-raised: the caller
    reads :attr:`end`. ``BaseException``s (cancellation, Ctrl-C) pass through unrecorded;
    the reaper closes such a run.
    """

    def __init__(
        self,
        database: Database,
        run_id: int,
        *,
        stale_after_seconds: float,
        counts: Callable[[], Mapping[str, int]],
        on_finish: Callable[[Session, RunEnd], None] | None = None,
        started: float | None = None,
        observers: Sequence[ProgressObserver] = (),
    ) -> None:
        self.database = database
        self.run_id = run_id
        self._interval = heartbeat_interval(stale_after_seconds)
        self._counts = counts
        self._on_finish = on_finish
        self._started = time.monotonic() if started is None else started
        self._beating: contextlib.AbstractAsyncContextManager[None] | None = None
        self._end: RunEnd | None = None
        self._recorder = ProgressRecorder()
        self.progress = ProgressTracker([self._recorder, *observers])
        """Where the sync reports how far it has come (and the Halo client its pages)."""

    @property
    def end(self) -> RunEnd:
        """How the run ended (after the block)."""
        if self._end is None:
            raise RuntimeError(f"sync run {self.run_id} has not ended yet")
        return self._end

    async def __aenter__(self) -> RunLifecycle:
        self._beating = heartbeat(self.database, self.run_id, self._interval, self._recorder)
        await self._beating.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        assert self._beating is not None
        await self._beating.__aexit__(None, None, None)
        if exc is not None and not isinstance(exc, Exception):
            return False
        status: FinalRunStatus = "succeeded"
        error: str | None = None
        if exc is not None:
            status, error = run_outcome_of(exc)
            if not isinstance(exc, HalosyncError):
                log.error("sync_run_crashed", run_id=self.run_id, exc_info=exc)
        end = RunEnd(
            run_id=self.run_id,
            status=status,
            error=error,
            counts=dict(self._counts()),
            finished_at=utcnow(),
            duration_ms=int((time.monotonic() - self._started) * 1000),
        )

        def close(session: Session) -> None:
            finish_run(
                session,
                end.run_id,
                end.status,
                end.counts,
                error=end.error,
                now=end.finished_at,
                progress=self.progress.current,
            )
            if self._on_finish is not None:
                self._on_finish(session, end)

        self.database.retrying(close)
        self._end = end
        return True


# --- Reading: the run read model -------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """One sync run as every screen, the API and the CLI show it."""

    id: int
    workspace_id: int
    kind: str
    trigger: str
    dry_run: bool
    status: str
    account_ref: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None
    schedule_key: str | None
    progress: SyncProgress | None = None
    """How far it has come (recorded with its heartbeat while it runs; the last on finish)."""

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_RUN_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The fields by name (timestamps as datetimes)."""
        return asdict(self)


@dataclass(frozen=True)
class ResultView:
    """The outcome of one account × service in a run."""

    run_id: int
    at: datetime
    account_ref: str | None
    account_name: str | None
    service_ref: str | None
    service_name: str | None
    action: str
    level: str
    halo_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    message: str | None
    explain: dict[str, Any] | None = None
    """The quantity rules' chain (``{"text", "steps"}``), None before rules or unmapped."""


def _view(run: SyncRun) -> RunView:
    return RunView(
        id=run.id,
        workspace_id=run.workspace_id,
        kind=run.kind,
        trigger=run.trigger,
        dry_run=run.dry_run,
        status=run.status,
        account_ref=run.account_ref,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=dict(run.counts or {}),
        error=run.error,
        schedule_key=run.schedule_key,
        progress=SyncProgress.from_json(run.progress),
    )


def list_runs(
    session: Session,
    workspace_id: int,
    *,
    kind: str | None = None,
    include_dry_runs: bool = True,
    page: int = 1,
    page_size: int = 20,
) -> Page[RunView]:
    """The workspace's runs, newest first."""
    page, page_size = max(page, 1), min(max(page_size, 1), 1000)
    total, runs = SyncRunRepository(session).page(
        workspace_id,
        kind=kind,
        include_dry_runs=include_dry_runs,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    return Page(items=[_view(run) for run in runs], total=total, page=page, page_size=page_size)


def get_run(session: Session, workspace_id: int, run_id: int) -> RunView:
    """One run of the workspace, or :class:`NotFoundError`."""
    run = SyncRunRepository(session).of_workspace(workspace_id, run_id)
    if run is None:
        raise NotFoundError(f"No sync run {run_id} in this workspace.")
    return _view(run)


def find_run(session: Session, run_id: int) -> RunView | None:
    """One run by id, for workers and listeners that know only the id."""
    run = SyncRunRepository(session).get(run_id)
    return _view(run) if run is not None else None


def active_sync(session: Session, workspace_id: int) -> RunView | None:
    """The workspace's queued or running sync (dry runs aside), if any."""
    run = SyncRunRepository(session).first_active_sync(workspace_id)
    return _view(run) if run is not None else None


def last_full_sync_finished_at(
    session: Session, workspace_id: int, *, kind: RunKind, triggers: Sequence[RunTrigger]
) -> datetime | None:
    """When the newest succeeded all-accounts sync of ``kind`` by one of ``triggers`` ended."""
    return SyncRunRepository(session).last_finished_at(
        workspace_id, kind=kind, triggers=triggers, status="succeeded", whole_workspace=True
    )


def run_results(
    session: Session,
    workspace_id: int,
    run_id: int,
    *,
    action: str | None = None,
    by_name: bool = False,
    page: int = 1,
    page_size: int | None = 100,
) -> Page[ResultView]:
    """A run's per account × service results, by account then service (their references,
    or with ``by_name`` their names); ``page_size`` None for all of them."""
    page = max(page, 1)
    size = None if page_size is None else min(max(page_size, 1), 500)
    total, rows = SyncRunRepository(session).results(
        workspace_id,
        run_id,
        action=action,
        by_name=by_name,
        offset=(page - 1) * size if size else 0,
        limit=size,
    )
    items = [
        ResultView(
            run_id=result.run_id,
            at=result.at,
            account_ref=account_ref,
            account_name=account_name,
            service_ref=service_ref,
            service_name=service_name,
            action=result.action,
            level=result.level,
            halo_id=result.halo_id,
            before=result.before,
            after=result.after,
            reason=result.reason,
            message=result.message,
            explain=result.explain,
        )
        for result, account_ref, account_name, service_ref, service_name in rows
    ]
    return Page(items=items, total=total, page=page, page_size=size or max(total, 1))


@dataclass(frozen=True)
class RunFigures:
    """Installation-wide run figures for metrics."""

    totals: list[tuple[str, str, int]]
    """(kind, status, how many runs)."""
    durations: dict[str, list[float]]
    """Seconds per finished run, by kind."""


def run_figures(session: Session, since: datetime) -> RunFigures:
    """Run totals by kind and status, and the durations of runs finished since ``since``."""
    repository = SyncRunRepository(session)
    durations: dict[str, list[float]] = {}
    for kind, started, finished in repository.spans_finished_since(since):
        durations.setdefault(kind, []).append((finished - started).total_seconds())
    return RunFigures(repository.totals_by_kind_and_status(), durations)


def pairs_needing_attention(
    session: Session, workspace_id: int, account_refs: Sequence[str]
) -> dict[str, list[str]]:
    """Account ref -> what needs an admin about its services, from each pair's latest usage
    result: today, a mapped item with several lines on the mapped recurring invoice (nothing
    is written for such a pair until one line is left)."""
    found: dict[str, list[str]] = {}
    rows = SyncRunRepository(session).latest_usage_reasons(
        workspace_id, account_refs, SEVERAL_LINES_NOTE
    )
    for account_ref, service_ref, reason in rows:
        # "recurring invoice -1 has several lines for this item ... (lines 24002, 24005)"
        found.setdefault(account_ref, []).append(f"{service_ref}: {reason.split(';')[0]}")
    return found


@dataclass(frozen=True)
class Pruned:
    """What one pruning deleted."""

    log_entries: int = 0
    runs: int = 0
    results: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            self.log_entries + other.log_entries,
            self.runs + other.runs,
            self.results + other.results,
        )


def prune_history(
    session: Session, workspace_id: int, retention_days: int, *, now: datetime | None = None
) -> Pruned:
    """Forget what is older than the workspace's log retention, in the caller's transaction:
    log entries, and runs with their per-pair results (one rule, called at the end of every
    run and by the hourly tick).

    The ledger and the audit trail are the lasting record and stay (their reference to a
    deleted run becomes empty); queued and running runs are never pruned, and the newest
    finished run of each kind, trigger, status and scope stays (without its results), so
    "when was the last sync" still answers.
    """
    now = now or utcnow()
    log_entries = prune_log_entries(session, workspace_id, retention_days, now=now)
    runs, results = SyncRunRepository(session).prune_finished(
        workspace_id, now - timedelta(days=retention_days)
    )
    return Pruned(log_entries, runs, results)
