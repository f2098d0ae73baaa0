"""Jobs inside this process: queue consumer threads plus the tick thread.

``halosync serve`` uses it with the embedded queue (no other service needed);
``halosync worker`` uses the same machinery with the Redis queue.
"""

from __future__ import annotations

import threading
from types import TracebackType

from halosync.jobs.execute import RunExecutor, RunListener
from halosync.jobs.queue import HueyJobQueue, QueueConsumer, open_job_queue
from halosync.jobs.tick import Ticker
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.sync.halo import HaloFactory

log = get_logger(__name__)


class EmbeddedJobs:
    """Context manager: while open, this process executes queued runs and ticks.

    ``queue`` is what :func:`halosync.jobs.service.request_sync` needs. With
    ``tick=False`` only the consumer runs (e.g. a CLI waiting for its own run).
    """

    def __init__(
        self,
        settings: Settings,
        database: Database | None = None,
        *,
        workers: int = 2,
        tick: bool = True,
        tick_seconds: float | None = None,
        halo_factory: HaloFactory | None = None,
        listeners: tuple[RunListener, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.database = database or Database.from_settings(settings)
        self.workers = workers
        self.tick_enabled = tick
        self.tick_seconds = tick_seconds or settings.jobs_tick_seconds
        if listeners is None:
            from halosync.jobs.listeners import default_listeners

            listeners = default_listeners(self.database, settings)
        self.executor = RunExecutor(
            self.database, settings, halo_factory=halo_factory, listeners=listeners
        )
        self.queue: HueyJobQueue = open_job_queue(settings, self.executor)
        self.ticker = Ticker(self.database, settings, self.queue)
        self._stop = threading.Event()
        self._tick_thread: threading.Thread | None = None
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
        self._consumer = self.queue.start_consumer(self.workers)
        if self.tick_enabled:
            self._tick_thread = threading.Thread(
                target=self._tick_loop, name="halosync-tick", daemon=True
            )
            self._tick_thread.start()
        log.info(
            "jobs_started", queue=self.queue.mode, workers=self.workers, tick=self.tick_enabled
        )

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.ticker.tick()
            except Exception as problem:  # the next tick tries again
                log.warning("tick_failed", error=f"{type(problem).__name__}: {problem}")
            self._stop.wait(self.tick_seconds)

    def stop(self, *, graceful: bool = True) -> None:
        """Stop ticking, let running syncs finish (``graceful``), release the queue."""
        self._stop.set()
        if self._tick_thread is not None:
            self._tick_thread.join(timeout=30)
            self._tick_thread = None
        if self._consumer is not None:
            self._consumer.stop(graceful=graceful)
            self._consumer = None
        self.queue.close()
        log.info("jobs_stopped")
