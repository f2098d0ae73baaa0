"""Jobs inside this process: queue consumer threads plus the tick thread.

``halosync serve`` uses it with the embedded queue (no other service needed);
``halosync worker`` uses the same machinery with the Redis queue.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from halosync.jobs.execute import RunExecutor, RunListener
from halosync.jobs.listeners import default_listeners
from halosync.jobs.queue import HueyJobQueue, QueueConsumer, open_job_queue
from halosync.jobs.tick import Ticker
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.sync.halo import HaloFactory
from halosync.sync.runs import heartbeat_interval, vouch_for_queued_runs

log = get_logger(__name__)


class EmbeddedJobs:
    """Context manager: while open, this process executes queued runs and ticks.

    ``queue`` is what :func:`halosync.jobs.service.request_sync` needs. With
    ``tick=False`` only the consumer runs (e.g. a CLI waiting for its own run); with
    ``consume=False`` only the tick runs (``halosync scheduler``).
    """

    def __init__(
        self,
        settings: Settings,
        database: Database | None = None,
        *,
        workers: int = 2,
        tick: bool = True,
        consume: bool = True,
        tick_seconds: float | None = None,
        halo_factory: HaloFactory | None = None,
        listeners: tuple[RunListener, ...] | None = None,
    ) -> None:
        self.settings = settings
        self._owns_database = database is None
        self.database = database or Database.from_settings(settings)
        self.workers = workers
        self.tick_enabled = tick
        self.consume_enabled = consume
        self.tick_seconds = tick_seconds or settings.jobs_tick_seconds
        if listeners is None:
            listeners = default_listeners(self.database, settings)
        self.executor = RunExecutor(
            self.database, settings, halo_factory=halo_factory, listeners=listeners
        )
        self.queue: HueyJobQueue = open_job_queue(settings, self.executor)
        self.ticker = Ticker(self.database, settings, self.queue)
        self._stop = threading.Event()
        self._tick_thread: threading.Thread | None = None
        self._vouch_thread: threading.Thread | None = None
        self._consumer: QueueConsumer | None = None

    def __enter__(self) -> EmbeddedJobs:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Migrate the database, start the consumer threads and the tick."""
        self.database.migrate()
        if self.consume_enabled:
            self._consumer = self.queue.start_consumer(self.workers)
        if self.tick_enabled:
            self._tick_thread = threading.Thread(
                target=self._tick_loop, name="halosync-tick", daemon=True
            )
            self._tick_thread.start()
            self._vouch_thread = threading.Thread(
                target=self._vouch_loop, name="halosync-queued-heartbeat", daemon=True
            )
            self._vouch_thread.start()
        log.info(
            "jobs_started",
            queue=self.queue.mode,
            workers=self.workers if self.consume_enabled else 0,
            tick=self.tick_enabled,
        )

    def _vouch_loop(self) -> None:
        # Separate from the tick, which can take long with many workspaces.
        interval = heartbeat_interval(self.settings.sync_stale_run_seconds)
        while not self._stop.wait(interval):
            try:
                vouch_for_queued_runs(self.database)
            except Exception as problem:
                log.warning("queued_runs_heartbeat_failed", error=str(problem))

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                report = self.ticker.tick()
                log.debug(
                    "tick",
                    seconds=round(time.monotonic() - started, 3),
                    enqueued=len(report.enqueued),
                    reaped=len(report.reaped),
                )
            except Exception as problem:  # the next tick tries again
                log.warning("tick_failed", error=f"{type(problem).__name__}: {problem}")
            self._stop.wait(self.tick_seconds)

    def stop(self, *, graceful: bool = True) -> None:
        """Stop ticking, let running syncs finish (``graceful``), release the queue."""
        self._stop.set()
        if self._tick_thread is not None:
            self._tick_thread.join(timeout=30)
            self._tick_thread = None
        if self._vouch_thread is not None:
            self._vouch_thread.join(timeout=30)
            self._vouch_thread = None
        if self._consumer is not None:
            self._consumer.stop(graceful=graceful)
            self._consumer = None
        self.queue.close()
        if self._owns_database:
            self.database.dispose()
        log.info("jobs_stopped")
