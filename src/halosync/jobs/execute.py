"""Executing a queued sync run inside a worker: claim it, run it, report it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.customers import run_customers_sync
from halosync.sync.errors import RunNotQueuedError
from halosync.sync.halo import HaloFactory
from halosync.sync.runs import fail_queued_run, queued_run
from halosync.sync.usage import run_usage_sync

log = get_logger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    """What a worker did with one run: its final status and counts."""

    run_id: int
    workspace_id: int
    kind: str
    trigger: str
    status: str
    counts: dict[str, int]
    duration_seconds: float
    error: str | None


RunListener = Callable[[RunOutcome], None]
"""Told about every run a worker finished (metrics, email)."""


class RunExecutor:
    """Runs queued sync runs by id; the queue calls it from its consumer threads."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        halo_factory: HaloFactory | None = None,
        listeners: tuple[RunListener, ...] = (),
    ) -> None:
        self.database = database
        self.settings = settings
        self.halo_factory = halo_factory
        self.listeners = listeners
        self._box = SecretBox.from_settings(settings)

    def __call__(self, run_id: int) -> None:
        self.execute(run_id)

    def execute(self, run_id: int) -> RunOutcome | None:
        """Execute the run if it is still queued; None when another worker took it."""
        queued = queued_run(self.database, run_id)
        if queued is None:
            log.info("sync_run_not_queued", run_id=run_id)
            return None
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(
            workspace_id=queued.workspace_id, run_id=run_id
        ):
            try:
                if queued.kind == "customers":
                    report = asyncio.run(
                        run_customers_sync(
                            self.database,
                            self._box,
                            self.settings,
                            queued.workspace_id,
                            trigger=queued.trigger,
                            halo_factory=self.halo_factory,
                            run_id=run_id,
                        )
                    )
                    status, counts, error = report.status, dict(report.counts), report.error
                else:
                    usage = asyncio.run(
                        run_usage_sync(
                            self.database,
                            self._box,
                            self.settings,
                            queued.workspace_id,
                            trigger=queued.trigger,
                            account_ref=queued.account_ref,
                            halo_factory=self.halo_factory,
                            run_id=run_id,
                        )
                    )
                    status, counts, error = usage.status, dict(usage.counts), usage.error
            except RunNotQueuedError:
                log.info("sync_run_taken_elsewhere", run_id=run_id)
                return None
            except Exception as problem:
                # Refused before it started (account or workspace deleted since): close it.
                fail_queued_run(self.database, run_id, str(problem))
                log.warning("sync_run_refused", run_id=run_id, error=str(problem))
                raise
            outcome = RunOutcome(
                run_id=run_id,
                workspace_id=queued.workspace_id,
                kind=queued.kind,
                trigger=queued.trigger,
                status=status,
                counts=counts,
                duration_seconds=time.monotonic() - started,
                error=error,
            )
            for listener in self.listeners:
                try:
                    listener(outcome)
                except Exception as problem:  # a failed email must not fail the run
                    log.warning("run_listener_failed", error=str(problem))
        return outcome
