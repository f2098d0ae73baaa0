"""The job queue port and its huey adapters: embedded (SQLite file) and distributed (Redis).

Only a run id travels through the queue. The run row in the database is the truth: a
worker claims it atomically (queued -> running), so a message delivered twice, or
re-sent after a crash, never runs a sync twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from huey import RedisHuey, SqliteHuey  # type: ignore[import-untyped]
from huey.api import Huey  # type: ignore[import-untyped]
from huey.consumer import Consumer  # type: ignore[import-untyped]

from halosync.errors import HalosyncError
from halosync.files import create_private_file, explained, sqlite_access_problem
from halosync.settings import Settings

QueueMode = Literal["embedded", "redis"]
RunExecutor = Callable[[int], None]
"""Executes the sync run with this id (claims it first; a no-op when already taken)."""

EMBEDDED_QUEUE_FILE = "jobs.db"
_TASK_NAME = "halosync_execute_run"


class QueueUnavailableError(HalosyncError):
    """The queue (Redis, or the embedded queue file) could not take the run."""


@runtime_checkable
class JobQueue(Protocol):
    """What halosync needs from a task queue: enqueue a run, count the backlog, consume."""

    mode: QueueMode

    def enqueue_run(self, run_id: int) -> None:
        """Ask a worker to execute the queued sync run ``run_id``."""
        ...

    def pending(self) -> int:
        """Messages waiting in the queue (the queue-depth metric)."""
        ...

    def start_consumer(self, workers: int) -> QueueConsumer:
        """Start ``workers`` consumer threads in this process; stop them with ``stop()``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class QueueConsumer(Protocol):
    """Running consumer threads."""

    def stop(self, *, graceful: bool = True) -> None:
        """Stop taking messages; with ``graceful``, wait for running syncs to end."""
        ...


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """A huey consumer that leaves signal handling to the host process (uvicorn, typer)."""

    def _set_signal_handlers(self) -> None:
        return None


class _HueyConsumer:
    def __init__(self, consumer: _QuietConsumer) -> None:
        self._consumer = consumer

    def stop(self, *, graceful: bool = True) -> None:
        self._consumer.stop(graceful=graceful)


class HueyJobQueue:
    """A :class:`JobQueue` over one huey instance (SqliteHuey or RedisHuey)."""

    def __init__(self, huey: Huey, mode: QueueMode, executor: RunExecutor | None) -> None:
        self.mode: QueueMode = mode
        self.huey = huey
        self._executor = executor

        def halosync_execute_run(run_id: int) -> None:
            if self._executor is None:
                raise HalosyncError("This queue was opened without a run executor.")
            self._executor(run_id)

        self._task: Any = huey.task(name=_TASK_NAME)(halosync_execute_run)

    def set_executor(self, executor: RunExecutor) -> None:
        """Attach the function that executes runs (needed only where consumers run)."""
        self._executor = executor

    def enqueue_run(self, run_id: int) -> None:
        try:
            self._task(run_id)
        except Exception as error:
            raise QueueUnavailableError(
                f"The {self.mode} job queue did not accept sync run {run_id}: {error}",
                fix=(
                    "Check that Redis is reachable at HALOSYNC_REDIS_URL."
                    if self.mode == "redis"
                    else "Check that the data directory is writable."
                ),
            ) from error

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def start_consumer(self, workers: int) -> QueueConsumer:
        # huey logs every task at INFO; halosync's own run log says more.
        logging.getLogger("huey").setLevel(logging.WARNING)
        consumer = _QuietConsumer(
            self.huey,
            workers=max(1, workers),
            periodic=False,
            initial_delay=0.05,
            max_delay=1.0,
            backoff=1.5,
            worker_type="thread",
            check_worker_health=False,
        )
        consumer.start()
        return _HueyConsumer(consumer)

    def close(self) -> None:
        close = getattr(self.huey.storage, "close", None)
        if callable(close):
            close()
        pool = getattr(self.huey.storage, "pool", None)
        if pool is not None:
            pool.disconnect()


def embedded_queue_path(settings: Settings) -> Path:
    """The SQLite file of the embedded queue, next to the default database."""
    return settings.ensure_data_dir() / EMBEDDED_QUEUE_FILE


def open_job_queue(settings: Settings, executor: RunExecutor | None = None) -> HueyJobQueue:
    """The queue ``HALOSYNC_QUEUE`` selects: ``embedded`` (SqliteHuey) or ``redis``."""
    huey: Huey
    if settings.queue == "redis":
        huey = RedisHuey(settings.queue_name, url=settings.redis_url, results=False)
    else:
        path = embedded_queue_path(settings)
        with explained(path, "the embedded job queue file"):
            create_private_file(path)
        try:
            huey = SqliteHuey(
                settings.queue_name,
                filename=str(path),
                results=False,
                timeout=30,
            )
        except sqlite3.Error as error:
            problem = sqlite_access_problem(path, "the embedded job queue file")
            if problem is None:
                raise QueueUnavailableError(
                    f"Cannot open the embedded job queue file {path}: {error}."
                ) from error
            message, fix = problem
            raise QueueUnavailableError(message, fix=fix) from None
    return HueyJobQueue(huey, settings.queue, executor)
