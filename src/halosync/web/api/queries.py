"""Read models the REST API needs that no service offers yet: runs with their results and
the Halo items picker. Plain functions over a session, usable by the web UI as well."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from halosync.errors import NotFoundError
from halosync.store.models import Account, HaloItem, RunResult, Service, SyncRun
from halosync.store.search import name_or_halo_id
from halosync.store.usage import Page


@dataclass(frozen=True)
class RunRow:
    """One sync run as listed."""

    id: int
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


@dataclass(frozen=True)
class ResultRow:
    """The outcome of one account × service in a run."""

    account_ref: str | None
    service_ref: str | None
    action: str
    level: str
    halo_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    message: str | None
    at: datetime


def _counts(raw: dict[str, Any] | None) -> dict[str, int]:
    # The row also keeps its owner process there while running; only numbers are counts.
    return {
        str(key): int(value)
        for key, value in (raw or {}).items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def _run_row(run: SyncRun, account_ref: str | None) -> RunRow:
    return RunRow(
        id=run.id,
        kind=run.kind,
        trigger=run.trigger,
        dry_run=run.dry_run,
        status=run.status,
        account_ref=account_ref,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        counts=_counts(run.counts),
        error=run.error,
    )


def list_runs(
    session: Session,
    workspace_id: int,
    *,
    kind: str | None = None,
    include_dry_runs: bool = True,
    page: int = 1,
    page_size: int = 20,
) -> Page[RunRow]:
    """The workspace's runs, newest first."""
    page, page_size = max(page, 1), min(max(page_size, 1), 500)
    query = (
        select(SyncRun, Account.ref)
        .outerjoin(Account, Account.id == SyncRun.account_id)
        .where(SyncRun.workspace_id == workspace_id)
    )
    if kind is not None:
        query = query.where(SyncRun.kind == kind)
    if not include_dry_runs:
        query = query.where(SyncRun.dry_run.is_(False))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(SyncRun.id.desc()).offset((page - 1) * page_size).limit(page_size)
    ).all()
    items = [_run_row(run, ref) for run, ref in rows]
    return Page(items=items, total=int(total), page=page, page_size=page_size)


def get_run(session: Session, workspace_id: int, run_id: int) -> RunRow:
    """One run of the workspace, or :class:`NotFoundError`."""
    row = session.execute(
        select(SyncRun, Account.ref)
        .outerjoin(Account, Account.id == SyncRun.account_id)
        .where(SyncRun.workspace_id == workspace_id, SyncRun.id == run_id)
    ).first()
    if row is None:
        raise NotFoundError(f"No sync run {run_id} in this workspace.")
    return _run_row(row[0], row[1])


def run_results(
    session: Session,
    workspace_id: int,
    run_id: int,
    *,
    action: str | None = None,
    page: int = 1,
    page_size: int = 100,
) -> Page[ResultRow]:
    """One page of a run's per account × service results, by account then service."""
    page, page_size = max(page, 1), min(max(page_size, 1), 500)
    account, service = aliased(Account), aliased(Service)
    query = (
        select(RunResult, account.ref, service.ref)
        .outerjoin(account, account.id == RunResult.account_id)
        .outerjoin(service, service.id == RunResult.service_id)
        .where(RunResult.workspace_id == workspace_id, RunResult.run_id == run_id)
    )
    if action is not None:
        query = query.where(RunResult.action == action)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(account.ref, service.ref, RunResult.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    items = [
        ResultRow(
            account_ref=account_ref,
            service_ref=service_ref,
            action=result.action,
            level=result.level,
            halo_id=result.halo_id,
            before=result.before,
            after=result.after,
            reason=result.reason,
            message=result.message,
            at=result.at,
        )
        for result, account_ref, service_ref in rows
    ]
    return Page(items=items, total=int(total), page=page, page_size=page_size)


def halo_items(
    session: Session, workspace_id: int, *, search: str | None = None, limit: int = 50
) -> Sequence[HaloItem]:
    """Halo items still in Halo, for the service mapping picker (by name or by id)."""
    query = select(HaloItem).where(HaloItem.workspace_id == workspace_id, HaloItem.gone.is_(False))
    if search and search.strip():
        query = query.where(name_or_halo_id(HaloItem.name, HaloItem.halo_id, search.strip()))
    return session.scalars(query.order_by(HaloItem.name).limit(min(max(limit, 1), 500))).all()
