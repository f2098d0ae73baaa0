"""Checks of what halosync depends on, shared by ``/readyz`` and ``halosync doctor``.

Each check is cheap (one query, one Redis command) and never talks to HaloPSA; it says
what it found and, when something is wrong, what the operator should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from halosync.jobs.queue import JobQueue
from halosync.logging import get_logger, redact_text
from halosync.settings import Settings
from halosync.store.database import Database, DatabaseUnreachableError, first_error_line

log = get_logger(__name__)

CheckStatus = Literal["ok", "pending", "problem", "skipped"]
"""``pending``: not a problem, but something happens first (a migration on next start)."""


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was found and, for a problem, the fix."""

    name: str
    status: CheckStatus
    detail: str
    fix: str | None = None
    public: str | None = None
    """What unauthenticated callers (``/readyz``) see: no host names, no driver text."""

    @property
    def public_detail(self) -> str:
        """:attr:`public`, or the detail when it names nothing private."""
        return self.public if self.public is not None else self.detail

    @property
    def ok(self) -> bool:
        """Not a problem (a skipped or pending check is not one)."""
        return self.status != "problem"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "name": self.name,
            "status": self.status,
            "detail": redact_text(self.detail),
            "fix": redact_text(self.fix) if self.fix else None,
        }


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def first_line(error: BaseException) -> str:
    """The first line of an error (drivers append SQL and hints after it), secrets masked."""
    return redact_text(first_error_line(error))


def check_database(database: Database, *, migrates_on_start: bool = False) -> Check:
    """The database answers and its schema is the one this code expects.

    With ``migrates_on_start`` (the doctor, when HALOSYNC_AUTO_MIGRATE is on) an older or
    empty schema is fine: the next halosync process to start migrates it.
    """
    where = display_url(database.url)
    try:
        state = database.schema_state()
    except DatabaseUnreachableError as error:
        return Check(
            "database", "problem", error.message, fix=error.fix, public="Cannot reach the database."
        )
    except Exception as error:
        return Check(
            "database",
            "problem",
            f"Cannot reach the database at {where}: {first_line(error)}",
            fix="Check HALOSYNC_DATABASE_URL and that the database server is running and "
            "accepts this host.",
            public="Cannot reach the database.",
        )
    problem = state.problem()
    if problem is not None and migrates_on_start and not state.is_newer:
        return Check(
            "database",
            "pending",
            f"{where} reachable. {problem} halosync migrates it when it next starts "
            "(HALOSYNC_AUTO_MIGRATE).",
        )
    if problem is not None:
        return Check("database", "problem", problem, fix=state.fix())
    return Check(
        "database",
        "ok",
        f"{where} reachable, schema at {state.current} (current)",
        public="reachable, schema current",
    )


def queue_location(settings: Settings) -> str:
    """Where the configured job queue lives, password hidden."""
    if settings.queue == "redis":
        return f"Redis {display_url(settings.redis_url)}, queue {settings.queue_name!r}"
    return f"embedded queue file in {settings.data_dir}"


def check_queue(queue: JobQueue, settings: Settings) -> Check:
    """The job queue answers (one Redis command, or one read of the queue file)."""
    where = queue_location(settings)
    try:
        waiting = queue.pending()
    except Exception as error:
        fix = (
            "Check HALOSYNC_REDIS_URL and that Redis is running and reachable."
            if settings.queue == "redis"
            else "Check that the data directory (HALOSYNC_DATA_DIR) is writable."
        )
        return Check(
            "queue",
            "problem",
            f"Cannot reach the job queue ({where}): {first_line(error)}",
            fix,
            public="Cannot reach the job queue.",
        )
    return Check(
        "queue", "ok", f"{where} reachable, {waiting} message(s) waiting", public="reachable"
    )
