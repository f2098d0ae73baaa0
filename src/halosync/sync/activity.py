"""The workspace activity log (``log_entry``): what the Logs page and ``halosync logs`` show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from halosync.domain.models import LEVELS, Level
from halosync.errors import ValidationFailedError
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.log_entries import LogEntryRepository

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

PROVIDER = "HALO"
DEFAULT_PAGE_SIZE = 20
DETAILS_FOLD_CHARS = 240
"""Details longer than this are shown folded (the Logs page, ``halosync logs``): a skip
summary names every unmapped account: 177,592 characters for 9,678 accounts."""
DETAILS_PREVIEW_CHARS = 200
"""How much of folded details is shown before the fold."""


def add_log_entry(
    session: Session,
    workspace_id: int,
    level: Level,
    title: str,
    details: str | None = None,
    *,
    run_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry in the caller's transaction."""
    LogEntryRepository(session, workspace_id).add(
        level, title, details, run_id=run_id, created_at=at or utcnow()
    )


def latest_log_details(session: Session, workspace_id: int, title: str) -> str | None:
    """The details of the workspace's newest entry titled ``title`` (None if there is none)."""
    return LogEntryRepository(session, workspace_id).latest_details(title)


def prune_log_entries(
    session: Session, workspace_id: int, retention_days: int, *, now: datetime | None = None
) -> int:
    """Delete entries older than the workspace's retention; returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    return LogEntryRepository(session, workspace_id).delete_older_than(cutoff)


@dataclass(frozen=True)
class LogLine:
    """One entry as shown to a user."""

    id: int
    level: str
    title: str
    details: str | None
    created_at: datetime
    run_id: int | None

    @property
    def preview(self) -> str | None:
        """The start of details too long to show whole (``…`` marks the cut); None when
        they are shown whole."""
        details = self.details
        if details is None or len(details) <= DETAILS_FOLD_CHARS:
            return None
        return details[:DETAILS_PREVIEW_CHARS] + "\u2026"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape (timestamps in ISO 8601 UTC)."""
        return {
            "id": self.id,
            "level": self.level,
            "title": self.title,
            "details": self.details,
            "created_at": self.created_at.isoformat(),
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class LogPage:
    """One page of entries, newest first, with the total and the 30-day tile counts."""

    entries: Sequence[LogLine]
    total: int
    page: int
    page_size: int
    errors: int
    warnings: int

    @property
    def range_text(self) -> str:
        """ "1 – 20 of 236" (or "0 of 0")."""
        if not self.entries:
            return f"0 of {self.total}"
        first = (self.page - 1) * self.page_size + 1
        return f"{first} – {first + len(self.entries) - 1} of {self.total}"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        return {
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "range": self.range_text,
            "errors": self.errors,
            "warnings": self.warnings,
            "entries": [entry.to_dict() for entry in self.entries],
        }


def parse_level(value: str | None) -> Level | None:
    """A level filter from user input (``info``/``warning``/``error``, any case; blank = all)."""
    if value is None or not value.strip() or value.strip().lower() == "all":
        return None
    upper = value.strip().upper()
    for level in LEVELS:
        if level == upper:
            return level
    raise ValidationFailedError(
        f"Log level {value!r} is not valid.", fix="Use info, warning, error or all."
    )


def list_log_entries(
    database: Database,
    workspace_id: int,
    *,
    level: Level | None = None,
    run_id: int | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    days: int = 30,
    now: datetime | None = None,
) -> LogPage:
    """Entries of the last ``days`` days, newest first, optionally of one level or one run.

    The error/warning tile counts always cover every run of the period.
    """
    page = max(page, 1)
    page_size = min(max(page_size, 1), 500)
    since = (now or utcnow()) - timedelta(days=days)
    with database.read_connection() as connection:
        rows, total, by_level = LogEntryRepository(connection, workspace_id).page(
            since, level=level, run_id=run_id, page=page, page_size=page_size
        )
        entries = [
            LogLine(row.id, row.level, row.title, row.details, row.created_at, row.run_id)
            for row in rows
        ]
    return LogPage(
        entries=entries,
        total=int(total),
        page=page,
        page_size=page_size,
        errors=int(by_level.get("ERROR", 0)),
        warnings=int(by_level.get("WARNING", 0)),
    )
