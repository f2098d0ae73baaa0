"""``/syncs``, ``/runs``, ``/schedules``: Sync Now, the dry-run preview, run results, tiles.

Triggers go through the jobs facade (a queued run, 202), so "Sync in progress" and the
cooldown are decided in one place for the UI, the CLI and the API. The preview is a dry
run executed inline: it is read-only and answers with the ``sync usage --json`` document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from halosync.domain.models import Action, RuleScope, RunKind
from halosync.domain.schedule import Schedule
from halosync.errors import ValidationFailedError
from halosync.jobs import JobQueue, QueueUnavailableError, open_job_queue
from halosync.jobs.service import (
    CooldownError,
    get_schedules,
    request_sync,
    set_schedule,
    sync_overview,
)
from halosync.logging import redact_text
from halosync.settings import Settings
from halosync.store.base import utcnow
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.errors import SyncInProgressError
from halosync.sync.halo import HaloFactory
from halosync.sync.runs import ResultView, RunView, get_run, list_runs, run_results
from halosync.sync.usage import run_usage_sync
from halosync.web.api.auth import (
    Caller,
    current_caller,
    dry_runner,
    get_database,
    writer,
)
from halosync.web.api.deps import (
    PREFIX,
    JsonCount,
    PageNumber,
    Ref,
    ShortText,
    get_box,
    get_halo_factory,
    get_settings,
)
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["syncs"], route_class=JsonBodyRoute)


_TRIGGER_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    409: {"model": ErrorBody, "description": "Sync in progress."},
    429: {"model": ErrorBody, "description": "Within the cooldown; see Retry-After."},
    503: {"model": ErrorBody, "description": "The job queue is unavailable."},
}


def get_job_queue(request: Request) -> JobQueue:
    """The app's job queue (``app.state.job_queue``), opened from settings on first use."""
    queue = getattr(request.app.state, "job_queue", None)
    if queue is None:
        settings = get_settings(request)
        try:
            queue = open_job_queue(settings)
        except QueueUnavailableError as error:
            raise ApiError(503, error.text_for("api")) from None
        request.app.state.job_queue = queue
    assert isinstance(queue, JobQueue)
    return queue


class SyncRequestIn(BaseModel):
    """A usage sync of all accounts, or of one."""

    model_config = ConfigDict(extra="forbid")

    account_ref: Ref | None = Field(default=None, description="Only this account.")


class QueuedOut(BaseModel):
    """A sync accepted and queued."""

    run_id: int
    kind: RunKind
    account_ref: str | None
    status: Literal["queued"] = "queued"
    workspace: str


class CountsOut(BaseModel):
    """Results by outcome."""

    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int


class ExplainStepOut(BaseModel):
    """One link of the chain that produced a quantity (or a price)."""

    rule: str = Field(
        description="vendor, terms, free, rounding, minimum, ceiling, ended, excluded or price."
    )
    text: str
    quantity: JsonCount = Field(description="The quantity after this step.")
    scope: RuleScope | None = Field(description="Where the rule was set; null for the vendor's.")


class ExplainOut(BaseModel):
    """Why Halo gets the number it gets: the quantity rules applied, in order."""

    text: str = Field(
        description="The chain as one line: 'vendor 23 → minus 3 free (service) → 20'."
    )
    steps: list[ExplainStepOut]


class ChangeOut(BaseModel):
    """One account × service: the write a sync makes (or would make), before → after."""

    account_ref: str
    service_ref: str
    action: Action
    halo_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    level: str
    message: str | None
    duplicates: list[int] = []
    """Other HaloPSA records carrying this pair's halosync tag (never written)."""
    held: bool = False
    """A write held for review (a skip): it waits under /review."""
    explain: ExplainOut | None = None
    """The quantity rules' chain for a mapped pair; null for an unmapped one."""
    term: str = ""
    """The term whose own licence / line this is (terms rule apart); blank for the
    account × service's one record."""


class UsageReportOut(BaseModel):
    """The ``halosync sync usage --json`` document."""

    run_id: int
    workspace: str
    dry_run: bool
    status: str
    target: str
    account_ref: str | None
    counts: CountsOut
    duration_ms: int
    error: str | None
    changes: list[ChangeOut]


class ProgressOut(BaseModel):
    """How far a running sync has come, as it recorded with its heartbeat."""

    phase: Literal["reading", "writing"] = Field(
        description="Reading HaloPSA's lists, or writing the planned changes."
    )
    pages_read: int
    records_read: int
    writes_done: int
    writes_planned: int | None = Field(description="None until the plan is made.")
    waiting_until: datetime | None = Field(
        description="Waiting for HaloPSA's rate limit until then; None when not waiting."
    )


class OverviewOut(BaseModel):
    """Tiles and the Sync Now state: in progress, cooldown text, last and next syncs."""

    in_progress: bool
    running_kind: RunKind | None
    running_run_id: int | None
    progress: ProgressOut | None = Field(
        default=None, description="The running sync's progress (None when none runs)."
    )
    cooldown_message: str | None = Field(
        description='"You can trigger the next sync in N minutes", or None.'
    )
    cooldown_minutes: int
    last_customers_sync_at: datetime | None
    last_customers_age: str | None = Field(description='"Last sync to platform": "9h ago".')
    last_usage_sync_at: datetime | None
    last_usage_age: str | None = Field(description='"Last sync to PSA": "3 days ago".')
    next_customers_at: datetime | None
    next_usage_at: datetime | None
    next_auto_sync_at: datetime | None
    setup_finished: bool = Field(
        description="False until the setup is finished (POST /setup/finish): no automatic "
        "run happens before it."
    )


class RunOut(BaseModel):
    """A sync run."""

    id: int
    kind: RunKind
    trigger: str
    dry_run: bool
    status: str
    account_ref: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None
    progress: ProgressOut | None = Field(
        default=None, description="How far it came: live while it runs, the last on finish."
    )


class RunPage(BaseModel):
    """One page of runs, newest first."""

    items: list[RunOut]
    total: int
    page: int
    page_size: int


class ResultOut(BaseModel):
    """What happened to one account × service in a run."""

    account_ref: str | None
    service_ref: str | None
    action: str
    level: str
    halo_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    message: str | None
    explain: ExplainOut | None = None
    """The quantity rules' chain; null for an unmapped pair or a run before rules."""
    at: datetime


class RunDetailOut(RunOut):
    """A run with one page of its results per account × service."""

    results: list[ResultOut]
    results_total: int
    results_page: int
    results_page_size: int


class ScheduleOut(BaseModel):
    """One kind of sync's schedule."""

    kind: RunKind
    schedule: str = Field(description="'daily HH:MM', 'monthly N HH:MM' or 'monthly last HH:MM'.")
    description: str
    enabled: bool
    default: bool
    last_slot_at: datetime | None
    next_run_at: datetime | None


class ScheduleIn(BaseModel):
    """A schedule in UTC: 'daily 08:00', 'monthly 15 18:00' or 'monthly last 18:00'."""

    model_config = ConfigDict(extra="forbid")

    schedule: ShortText
    enabled: bool = True


def _run_out(row: RunView) -> dict[str, Any]:
    data = row.to_dict()
    data["error"] = redact_text(row.error) if row.error else None
    return data


def _result_out(row: ResultView) -> ResultOut:
    out = ResultOut.model_validate(row, from_attributes=True)
    if out.message:
        out.message = redact_text(out.message)
    return out


def _queue(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    caller: Caller,
    kind: RunKind,
    account_ref: str | None,
) -> QueuedOut:
    try:
        run_id = request_sync(
            database,
            settings,
            queue,
            caller.workspace_id,
            kind=kind,
            account_ref=account_ref,
            trigger="api",
        )
    except SyncInProgressError as busy:
        raise ApiError(409, busy.text_for("api")) from None
    except CooldownError as wait:
        raise ApiError(
            429, wait.text_for("api"), headers={"Retry-After": str(max(1, wait.minutes) * 60)}
        ) from None
    except QueueUnavailableError as down:
        raise ApiError(503, down.text_for("api")) from None
    return QueuedOut(
        run_id=run_id, kind=kind, account_ref=account_ref, workspace=caller.workspace_name
    )


@router.post(
    "/syncs/customers",
    response_model=QueuedOut,
    status_code=202,
    responses=_TRIGGER_ERRORS,
    summary="Sync Organizations: pull Halo clients, items and recurring invoices",
)
def sync_customers(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_settings)],
    queue: Annotated[JobQueue, Depends(get_job_queue)],
) -> Any:
    """Queue a customers pull; 409 "Sync in progress" while another sync runs."""
    return _queue(database, settings, queue, caller, "customers", None)


@router.post(
    "/syncs/usage",
    response_model=QueuedOut,
    status_code=202,
    responses=_TRIGGER_ERRORS,
    summary="Sync Now: push usage counts to Halo (all accounts, or one)",
)
def sync_usage(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_settings)],
    queue: Annotated[JobQueue, Depends(get_job_queue)],
    body: Annotated[SyncRequestIn | None, Body()] = None,
) -> Any:
    """Queue a usage push. 409 "Sync in progress" while another sync runs (a per-account
    sync included); 429 "You can trigger the next sync in N minutes" with Retry-After
    within the cooldown after a manual full sync."""
    account_ref = body.account_ref if body else None
    return _queue(database, settings, queue, caller, "usage", account_ref)


@router.post(
    "/syncs/usage/preview",
    response_model=UsageReportOut,
    responses=ERROR_RESPONSES,
    summary="Dry run: the exact Halo writes a usage sync would make",
)
def preview_usage(
    caller: Annotated[Caller, Depends(dry_runner)],
    database: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_settings)],
    box: Annotated[SecretBox, Depends(get_box)],
    factory: Annotated[HaloFactory | None, Depends(get_halo_factory)],
    body: Annotated[SyncRequestIn | None, Body()] = None,
) -> Any:
    """Reads Halo and plans, writes nothing to Halo or the ledger: create, update with
    before → after, unchanged, and skipped with the reason. ``status`` says whether the
    preview could be made (``halted`` with ``error`` when the connection needs fixing).
    The document is streamed a part at a time as the results are read back from disk, so
    a preview of 100,000 pairs is never held whole."""
    report = asyncio.run(
        run_usage_sync(
            database,
            box,
            settings,
            caller.workspace_id,
            trigger="api",
            account_ref=body.account_ref if body else None,
            dry_run=True,
            halo_factory=factory,
        )
    )

    def head(data: dict[str, Any]) -> dict[str, Any]:
        data["error"] = redact_text(report.error) if report.error else None
        return UsageReportOut.model_validate(data).model_dump(mode="json")

    def change(data: dict[str, Any]) -> dict[str, Any]:
        return ChangeOut.model_validate(data).model_dump(mode="json")

    # As FastAPI's JSONResponse encodes a response model.
    dumps = partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    parts = report.json_parts(dumps, indent=None, head=head, change=change)
    return StreamingResponse(_gathered(parts), media_type="application/json")


_STREAM_PART = 64 * 1024
"""Characters a streamed document sends at once (a message per change would be 100,000)."""


def _gathered(parts: Iterable[str]) -> Iterator[bytes]:
    """``parts`` as UTF-8, gathered into messages of about :data:`_STREAM_PART`."""
    pending: list[str] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= _STREAM_PART:
            yield "".join(pending).encode()
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode()


@router.get("/syncs/overview", response_model=OverviewOut, responses=ERROR_RESPONSES)
def overview(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """In progress?, the cooldown text, "Last sync to platform/PSA" and the next auto-syncs."""
    with database.session() as session:
        return OverviewOut.model_validate(
            sync_overview(session, caller.workspace_id, utcnow()).to_dict()
        )


@router.get("/runs", response_model=RunPage, responses=ERROR_RESPONSES)
def runs(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    kind: Annotated[RunKind | None, Query(description="Only this kind of run.")] = None,
    include_dry_runs: bool = True,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 20,
) -> Any:
    """The workspace's sync runs, newest first."""
    with database.session() as session:
        found = list_runs(
            session,
            caller.workspace_id,
            kind=kind,
            include_dry_runs=include_dry_runs,
            page=page,
            page_size=page_size,
        )
    return RunPage(
        items=[RunOut.model_validate(_run_out(row)) for row in found.items],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
    )


@router.get("/runs/{run_id}", response_model=RunDetailOut, responses=ERROR_RESPONSES)
def run_detail(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    run_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    action: Annotated[Action | None, Query(description="Only results of this action.")] = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """One run with its results per account × service (time, outcome, message)."""
    with database.session() as session:
        run = get_run(session, caller.workspace_id, run_id)
        results = run_results(
            session, caller.workspace_id, run_id, action=action, page=page, page_size=page_size
        )
    return RunDetailOut.model_validate(
        _run_out(run)
        | {
            "results": [_result_out(row) for row in results.items],
            "results_total": results.total,
            "results_page": results.page,
            "results_page_size": results.page_size,
        }
    )


@router.get("/schedules", response_model=list[ScheduleOut], responses=ERROR_RESPONSES)
def schedules(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """Both schedules (customers pull, usage push), defaults where none was saved."""
    now = utcnow()
    with database.session() as session:
        found = get_schedules(session, caller.workspace_id)
    return [ScheduleOut.model_validate(setting.to_dict(now)) for setting in found.values()]


@router.put("/schedules/{kind}", response_model=ScheduleOut, responses=ERROR_RESPONSES)
def put_schedule(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    kind: Annotated[RunKind, Path(description="customers or usage.")],
    body: Annotated[ScheduleIn, Body()],
) -> Any:
    """Daily at HH:MM UTC, or monthly on day N (1-28) or the last day; slots before now
    never fire."""
    try:
        schedule = Schedule.parse(body.schedule)
    except ValidationFailedError as invalid:
        raise ApiError(
            422,
            f"The schedule is not valid; nothing was changed. {invalid}",
            errors=[ErrorItem(location="$.schedule", message=invalid.message)],
        ) from None
    with database.session() as session:
        setting = set_schedule(session, caller.workspace_id, kind, schedule, enabled=body.enabled)
        return ScheduleOut.model_validate(setting.to_dict())
