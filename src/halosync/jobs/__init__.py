"""Jobs: the queue port and adapters, the one-minute tick, schedules and the facade.

Entry points call :mod:`halosync.jobs.service`; processes that execute runs open
:class:`halosync.jobs.embedded.EmbeddedJobs` (``halosync serve`` / ``halosync worker``).
"""

from __future__ import annotations

from halosync.jobs.queue import JobQueue, QueueUnavailableError, open_job_queue

__all__ = ["JobQueue", "QueueUnavailableError", "open_job_queue"]
