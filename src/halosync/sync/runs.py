"""The life of a sync run: created (refused while another runs), kept alive, finished.

"One sync per workspace" is the database's job: a partial unique index on ``sync_run``
refuses a second queued/running non-dry-run row, and that refusal becomes
:class:`SyncInProgressError`. A run whose process died (SIGKILL, power cut) is reaped
before a new one starts: its owner process is gone from this host, or its heartbeat
stopped longer ago than ``Settings.sync_stale_run_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from halosync.logging import get_logger
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import ACTIVE_RUN_STATUSES, SyncRun, Workspace
from halosync.sync.errors import RunNotQueuedError, SyncInProgressError

log = get_logger(__name__)

RunKind = Literal["customers", "usage"]
RunTrigger = Literal["manual", "schedule", "api"]
RunStatus = Literal["succeeded", "failed", "halted"]
_HOST = socket.gethostname()


def _owner() -> dict[str, Any]:
    return {"owner": {"host": _HOST, "pid": os.getpid()}}


def _process_gone(counts: Mapping[str, Any] | None) -> bool:
    """True when the run's owner was a process on this host that no longer exists."""
    owner = (counts or {}).get("owner")
    if not isinstance(owner, dict) or owner.get("host") != _HOST:
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
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
    active = session.scalars(
        select(SyncRun).where(
            SyncRun.workspace_id == workspace_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES)
        )
    ).all()
    reaped: list[int] = []
    for run in active:
        seen = run.heartbeat_at or run.started_at or run.created_at
        if _process_gone(run.counts) or seen < cutoff:
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


def start_run(
    database: Database,
    workspace_id: int,
    *,
    kind: RunKind,
    trigger: RunTrigger,
    dry_run: bool = False,
    account_id: int | None = None,
    stale_after_seconds: float = 120.0,
    run_id: int | None = None,
) -> int:
    """Create the run row as running and return its id, or raise SyncInProgressError.

    With ``run_id`` (a row queued at request time) the row is claimed instead: only one
    worker turns it from queued to running; the others get :class:`RunNotQueuedError`.
    """
    now = utcnow()
    with database.session() as session:
        reap_stale_runs(session, workspace_id, stale_after_seconds, now=now)
    if run_id is not None:
        return _claim_run(database, run_id, now)
    try:
        with database.session() as session:
            run = SyncRun(
                workspace_id=workspace_id,
                kind=kind,
                trigger=trigger,
                dry_run=dry_run,
                account_id=account_id,
                status="running",
                created_at=now,
                started_at=now,
                heartbeat_at=now,
                counts=_owner(),
            )
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        with database.session() as session:
            workspace = session.get(Workspace, workspace_id)
            name = workspace.name if workspace else str(workspace_id)
        raise SyncInProgressError(name) from None


def _claim_run(database: Database, run_id: int, now: datetime) -> int:
    with database.session() as session:
        claimed = session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, counts=_owner())
        )
        if not getattr(claimed, "rowcount", 0):
            raise RunNotQueuedError(run_id)
    return run_id


def beat(database: Database, run_id: int) -> None:
    """Record that the run is still alive."""
    with database.session() as session:
        session.execute(update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=utcnow()))


def finish_run(
    session: Session,
    run_id: int,
    status: RunStatus,
    counts: Mapping[str, int],
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close the run in the caller's transaction."""
    run = session.get(SyncRun, run_id)
    if run is None:
        return
    run.status = status
    run.counts = dict(counts)
    run.error = error
    run.finished_at = now or utcnow()
    run.heartbeat_at = run.finished_at


@contextlib.asynccontextmanager
async def heartbeat(
    database: Database, run_id: int, interval_seconds: float
) -> AsyncIterator[None]:
    """Keep the run's heartbeat fresh while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await asyncio.to_thread(beat, database, run_id)
            except Exception as error:  # a missed beat must not kill the sync itself
                log.warning("sync_heartbeat_failed", run_id=run_id, error=str(error))

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
