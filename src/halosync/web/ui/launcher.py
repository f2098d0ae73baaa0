"""The UI's way to start syncs and read their state: the jobs facade, nothing of its own.

Sync Now, Sync Organizations, a row's sync icon and Apply all queue a run through
:func:`halosync.jobs.service.request_sync` (so "Sync in progress" and the cooldown come
from the same rules as the CLI and the REST API); whichever process consumes the queue
executes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from halosync.domain.models import RunKind
from halosync.jobs.service import SyncOverview, request_sync, sync_overview
from halosync.store.database import Database
from halosync.sync.errors import SYNC_IN_PROGRESS
from halosync.web.api.syncs import get_job_queue


def overview(database: Database, workspace_id: int, now: datetime | None = None) -> SyncOverview:
    """The workspace's tiles, in-progress state, cooldown and next automatic runs."""
    with database.reading() as session:
        return sync_overview(session, workspace_id, now or datetime.now(UTC))


def blocked_text(state: SyncOverview) -> str | None:
    """Why Sync Now is refused right now, in the reference's words; None when allowed."""
    if state.in_progress:
        return SYNC_IN_PROGRESS
    return state.cooldown_message


def start_sync(
    request: Request,
    database: Database,
    workspace_id: int,
    *,
    kind: RunKind,
    account_ref: str | None = None,
) -> int:
    """Queue a manual sync; raises with the text the user reads when it is refused."""
    settings = request.app.state.settings
    return request_sync(
        database,
        settings,
        get_job_queue(request),
        workspace_id,
        kind=kind,
        account_ref=account_ref,
        trigger="manual",
    )
