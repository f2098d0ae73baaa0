"""The SQL behind sync runs and their results; ``halosync.sync.runs`` is its only caller
but for :func:`make_up_for_write_lock` (an import's, which must not load the sync engine).

Inserting a run can be refused by one of two unique indexes, and only those two refusals
mean something to the caller: :class:`ActiveRunExists` (the workspace already has a
queued or running sync) and :class:`ScheduleSlotTaken` (another process enqueued this
schedule slot). Any other ``IntegrityError`` propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from halosync.domain.models import ACTIVE_RUN_STATUSES
from halosync.store.base import utcnow
from halosync.store.constraints import violated_unique
from halosync.store.models import (
    ONE_ACTIVE_RUN_INDEX,
    Account,
    RunResult,
    Service,
    SyncRun,
)

SCHEDULE_KEY_UNIQUE = "uq_sync_run_schedule_key"

ResultWithNames = tuple[RunResult, str | None, str | None, str | None, str | None]
"""A result with its account's reference and name and its service's reference and name."""


class ActiveRunExists(Exception):
    """The one-active-run-per-workspace index refused a second queued/running run."""


class ScheduleSlotTaken(Exception):
    """A run for this schedule slot exists already (``schedule_key`` is unique)."""


class SyncRunRepository:
    """Rows of ``sync_run`` and ``run_result``, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: SyncRun) -> int:
        """Insert ``run`` and return its id; the two meaningful refusals become typed."""
        self.session.add(run)
        try:
            self.session.flush()
        except IntegrityError as error:
            violated = violated_unique(error)
            if violated == ONE_ACTIVE_RUN_INDEX:
                raise ActiveRunExists(run.workspace_id) from error
            if violated == SCHEDULE_KEY_UNIQUE:
                raise ScheduleSlotTaken(run.schedule_key) from error
            raise
        return run.id

    def get(self, run_id: int) -> SyncRun | None:
        """One run by id, whatever its workspace (workers know only the id)."""
        return self.session.get(SyncRun, run_id)

    def of_workspace(self, workspace_id: int, run_id: int) -> SyncRun | None:
        """One run of the workspace by id."""
        return self.session.scalar(
            select(SyncRun).where(SyncRun.workspace_id == workspace_id, SyncRun.id == run_id)
        )

    def claim(self, run_id: int, *, host: str, pid: int, now: datetime) -> bool:
        """Turn a queued run into a running one owned by ``host``/``pid``; False if not queued."""
        claimed = self.session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.status == "queued")
            .values(
                status="running", started_at=now, heartbeat_at=now, owner_host=host, owner_pid=pid
            )
        )
        return bool(getattr(claimed, "rowcount", 0))

    def beat(self, run_id: int, now: datetime, progress: dict[str, Any] | None = None) -> None:
        """Record that the run is alive, and how far it has come when ``progress`` is given."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if progress is not None:
            values["progress"] = progress
        self.session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))

    def make_up_for_silence(self, held: timedelta, now: datetime) -> None:
        """Move the heartbeat of every queued and running run on by ``held``, never past
        ``now``: a time in which none of them could have written one."""
        for run in self.session.scalars(
            select(SyncRun).where(SyncRun.status.in_(ACTIVE_RUN_STATUSES))
        ):
            seen = run.heartbeat_at or run.started_at or run.created_at
            run.heartbeat_at = min(now, seen + held)
        self.session.flush()

    def fail_if_queued(self, run_id: int, error: str, now: datetime) -> bool:
        """Close a run that never started; False when it was no longer queued."""
        closed = self.session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.status == "queued")
            .values(status="failed", finished_at=now, error=error)
        )
        return bool(getattr(closed, "rowcount", 0))

    def active(self, workspace_id: int) -> Sequence[SyncRun]:
        """The workspace's queued and running runs (dry runs included), oldest first."""
        return self.session.scalars(
            select(SyncRun)
            .where(SyncRun.workspace_id == workspace_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES))
            .order_by(SyncRun.id)
        ).all()

    def workspaces_with_active_runs(self) -> Sequence[int]:
        """Every workspace that has a queued or running run."""
        return self.session.scalars(
            select(SyncRun.workspace_id).where(SyncRun.status.in_(ACTIVE_RUN_STATUSES)).distinct()
        ).all()

    def queued(self) -> Sequence[SyncRun]:
        """Every queued run of every workspace."""
        return self.session.scalars(
            select(SyncRun).where(SyncRun.status == "queued").order_by(SyncRun.id)
        ).all()

    def vouch_for_queued(self, now: datetime) -> None:
        """Refresh the heartbeat of every queued run."""
        self.session.execute(
            update(SyncRun).where(SyncRun.status == "queued").values(heartbeat_at=now)
        )

    def first_active_sync(self, workspace_id: int) -> SyncRun | None:
        """The workspace's queued or running non-dry run (the index allows one)."""
        return self.session.scalar(
            select(SyncRun)
            .where(
                SyncRun.workspace_id == workspace_id,
                SyncRun.status.in_(ACTIVE_RUN_STATUSES),
                SyncRun.dry_run.is_(False),
            )
            .order_by(SyncRun.id)
            .limit(1)
        )

    def last_finished_at(
        self,
        workspace_id: int,
        *,
        kind: str,
        triggers: Sequence[str],
        status: str,
        whole_workspace: bool,
    ) -> datetime | None:
        """When the newest matching non-dry run finished."""
        query = select(func.max(SyncRun.finished_at)).where(
            SyncRun.workspace_id == workspace_id,
            SyncRun.kind == kind,
            SyncRun.trigger.in_(triggers),
            SyncRun.dry_run.is_(False),
            SyncRun.status == status,
        )
        if whole_workspace:
            query = query.where(SyncRun.account_id.is_(None), SyncRun.account_ref.is_(None))
        finished: datetime | None = self.session.scalar(query)
        return finished

    def page(
        self,
        workspace_id: int,
        *,
        kind: str | None,
        include_dry_runs: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, Sequence[SyncRun]]:
        """The total and one slice of the workspace's runs, newest first."""
        query = select(SyncRun).where(SyncRun.workspace_id == workspace_id)
        if kind is not None:
            query = query.where(SyncRun.kind == kind)
        if not include_dry_runs:
            query = query.where(SyncRun.dry_run.is_(False))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        runs = self.session.scalars(
            query.order_by(SyncRun.id.desc()).offset(offset).limit(limit)
        ).all()
        return int(total), runs

    def results(
        self,
        workspace_id: int,
        run_id: int,
        *,
        action: str | None,
        by_name: bool,
        offset: int,
        limit: int | None,
    ) -> tuple[int, list[ResultWithNames]]:
        """The total and a slice of one run's results with account and service ref and name,
        by account then service (their names with ``by_name``, else their references)."""
        account, service = aliased(Account), aliased(Service)
        query = (
            select(RunResult, account.ref, account.name, service.ref, service.name)
            .outerjoin(account, account.id == RunResult.account_id)
            .outerjoin(service, service.id == RunResult.service_id)
            .where(RunResult.workspace_id == workspace_id, RunResult.run_id == run_id)
        )
        if action is not None:
            query = query.where(RunResult.action == action)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = (account.name, service.name) if by_name else (account.ref, service.ref)
        ordered = query.order_by(*order, RunResult.id).offset(offset)
        if limit is not None:
            ordered = ordered.limit(limit)
        rows = self.session.execute(ordered).all()
        return int(total), [
            (result, account_ref, account_name, service_ref, service_name)
            for result, account_ref, account_name, service_ref, service_name in rows
        ]

    def latest_usage_reasons(
        self, workspace_id: int, account_refs: Sequence[str], containing: str
    ) -> list[tuple[str, str, str]]:
        """(account ref, service ref, reason) of each pair of those accounts whose latest
        usage result (dry runs too) has a reason containing ``containing``."""
        if not account_refs:
            return []
        latest = (
            select(func.max(RunResult.id).label("id"))
            .join(SyncRun, SyncRun.id == RunResult.run_id)
            .join(Account, Account.id == RunResult.account_id)
            .where(
                RunResult.workspace_id == workspace_id,
                SyncRun.kind == "usage",
                RunResult.service_id.is_not(None),
                Account.ref.in_(account_refs),
            )
            .group_by(RunResult.account_id, RunResult.service_id)
            .subquery()
        )
        rows = self.session.execute(
            select(Account.ref, Service.ref, RunResult.reason)
            .join(latest, latest.c.id == RunResult.id)
            .join(Account, Account.id == RunResult.account_id)
            .join(Service, Service.id == RunResult.service_id)
            .where(RunResult.reason.contains(containing, autoescape=True))
            .order_by(Account.ref, Service.ref)
        ).all()
        return [(str(a), str(s), str(r)) for a, s, r in rows]

    def prune_finished(self, workspace_id: int, before: datetime) -> tuple[int, int]:
        """Delete the results of the workspace's runs that finished before ``before``, and
        those runs, except the newest of each kind, trigger, status and scope (whole
        workspace or one account), which "when was the last sync" reads; queued and running
        runs are never touched. Returns (runs, results) deleted."""
        old = (
            SyncRun.workspace_id == workspace_id,
            SyncRun.status.not_in(ACTIVE_RUN_STATUSES),
            SyncRun.finished_at < before,
        )
        results = self.session.execute(
            delete(RunResult)
            .where(RunResult.run_id.in_(select(SyncRun.id).where(*old)))
            .execution_options(synchronize_session=False)
        )
        newer = aliased(SyncRun)
        superseded = exists().where(
            newer.workspace_id == SyncRun.workspace_id,
            newer.kind == SyncRun.kind,
            newer.trigger == SyncRun.trigger,
            newer.status == SyncRun.status,
            newer.dry_run == SyncRun.dry_run,
            newer.account_ref.is_(None) == SyncRun.account_ref.is_(None),
            newer.id > SyncRun.id,
        )
        runs = self.session.execute(
            delete(SyncRun).where(*old, superseded).execution_options(synchronize_session=False)
        )
        return _rowcount(runs), _rowcount(results)

    def totals_by_kind_and_status(self) -> list[tuple[str, str, int]]:
        """How many runs of each kind are in each status (all workspaces)."""
        rows = self.session.execute(
            select(SyncRun.kind, SyncRun.status, func.count()).group_by(
                SyncRun.kind, SyncRun.status
            )
        )
        return [(kind, status, int(count)) for kind, status, count in rows]

    def spans_finished_since(self, since: datetime) -> list[tuple[str, datetime, datetime]]:
        """Kind, start and end of every run that finished after ``since`` (all workspaces)."""
        rows = self.session.execute(
            select(SyncRun.kind, SyncRun.started_at, SyncRun.finished_at).where(
                SyncRun.finished_at >= since, SyncRun.started_at.is_not(None)
            )
        )
        return [
            (kind, started, finished)
            for kind, started, finished in rows
            if started is not None and finished is not None
        ]


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def make_up_for_write_lock(session: Session, locked_at: datetime) -> None:
    """On SQLite, in a transaction that has held the write lock since ``locked_at`` (an
    import), before it ends: that time does not count against any run's heartbeat.

    No run could write its heartbeat meanwhile (SQLite has one writer at a time); an
    import of millions of rows holds the lock for longer than a run may stay silent, and
    when it ends the reaper may write before the run's waiting beat does, failing a live
    run and letting a second sync of the workspace start. A run dead before the lock was
    taken is reaped that much later (a dead process on this host at once, as always).
    PostgreSQL locks rows: a heartbeat never waits for an import there.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    now = utcnow()
    SyncRunRepository(session).make_up_for_silence(now - locked_at, now)
