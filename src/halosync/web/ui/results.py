"""Reading the per account × service results of recent runs for the Results screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from halosync.store.database import Database
from halosync.store.models import Account, RunResult, Service, SyncRun


@dataclass(frozen=True)
class ResultLine:
    """One account × service outcome of a run."""

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


@dataclass(frozen=True)
class RunLine:
    """A run as the Results screen lists it."""

    id: int
    kind: str
    trigger: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, Any]
    error: str | None


def recent_runs(database: Database, workspace_id: int, *, limit: int = 5) -> list[RunLine]:
    """The workspace's latest usage runs that wrote (or tried to), newest first."""
    with database.session() as session:
        runs = session.scalars(
            select(SyncRun)
            .where(
                SyncRun.workspace_id == workspace_id,
                SyncRun.kind == "usage",
                SyncRun.dry_run.is_(False),
            )
            .order_by(SyncRun.id.desc())
            .limit(limit)
        ).all()
        return [
            RunLine(
                run.id,
                run.kind,
                run.trigger,
                run.status,
                run.started_at,
                run.finished_at,
                {k: v for k, v in (run.counts or {}).items() if isinstance(v, int)},
                run.error,
            )
            for run in runs
        ]


def run_results(
    database: Database, workspace_id: int, run_id: int, *, only: str | None = None
) -> list[ResultLine]:
    """Every result of one run of the workspace, by account and service."""
    account, service = aliased(Account), aliased(Service)
    query = (
        select(RunResult, account.ref, account.name, service.ref, service.name)
        .outerjoin(account, account.id == RunResult.account_id)
        .outerjoin(service, service.id == RunResult.service_id)
        .where(RunResult.workspace_id == workspace_id, RunResult.run_id == run_id)
        .order_by(account.name, service.name, RunResult.id)
    )
    if only:
        query = query.where(RunResult.action == only)
    with database.session() as session:
        return [
            ResultLine(
                result.run_id,
                result.at,
                account_ref,
                account_name,
                service_ref,
                service_name,
                result.action,
                result.level,
                result.halo_id,
                result.before,
                result.after,
                result.reason,
                result.message,
            )
            for result, account_ref, account_name, service_ref, service_name in session.execute(
                query
            )
        ]
