"""Workspace preferences outside the sync engine's settings: log retention and e-mail opt-ins.

The one owner of their rules, called by the REST API and the web UI alike; the sync
settings proper (target, prices...) live in :mod:`halosync.sync.workspace_settings`,
whose :func:`~halosync.sync.workspace_settings.update_sync_settings` writes both in one
transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from halosync.errors import ValidationFailedError
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import add_log_entry

MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


@dataclass(frozen=True)
class PreferencesChange:
    """The preferences to change; None leaves one as it is (``clear_email`` empties it)."""

    log_retention_days: int | None = None
    notify_email: str | None = None
    clear_email: bool = False
    notify_on_success: bool | None = None
    notify_on_failure: bool | None = None


@dataclass(frozen=True)
class PreferencesView:
    """A workspace's log retention and notification opt-ins."""

    log_retention_days: int
    notify_email: str | None
    notify_on_success: bool
    notify_on_failure: bool

    def to_dict(self) -> dict[str, Any]:
        """The API shape."""
        return {
            "log_retention_days": self.log_retention_days,
            "notify_email": self.notify_email,
            "notify_on_success": self.notify_on_success,
            "notify_on_failure": self.notify_on_failure,
        }


def preference_problems(change: PreferencesChange) -> list[tuple[str, str]]:
    """(field, what is wrong) for each bad value; empty when the change is valid."""
    problems: list[tuple[str, str]] = []
    days = change.log_retention_days
    if days is not None and not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        problems.append(
            (
                "log_retention_days",
                f"must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days, got {days}",
            )
        )
    if change.notify_email is not None and not _EMAIL.match(change.notify_email):
        problems.append(("notify_email", f"{change.notify_email!r} is not an e-mail address"))
    if change.clear_email and (change.notify_on_success or change.notify_on_failure):
        problems.append(("notify_email", "is needed to send notifications"))
    return problems


def validate_preferences(change: PreferencesChange) -> None:
    """Refuse a change with bad values before anything is written, naming each one."""
    problems = preference_problems(change)
    if problems:
        raise ValidationFailedError(
            "Invalid setting: " + "; ".join(f"{field} {what}" for field, what in problems) + "."
        )


def show_preferences(session: Session, workspace_id: int) -> PreferencesView:
    """The workspace's current preferences."""
    ws = WorkspaceRepository(session).get(workspace_id)
    return PreferencesView(
        log_retention_days=ws.log_retention_days,
        notify_email=ws.notify_email,
        notify_on_success=ws.notify_on_success,
        notify_on_failure=ws.notify_on_failure,
    )


def update_preferences(
    session: Session, workspace_id: int, change: PreferencesChange
) -> PreferencesView:
    """Validate and apply ``change`` in the caller's transaction, logging what changed."""
    validate_preferences(change)
    ws = WorkspaceRepository(session).get(workspace_id)
    before = show_preferences(session, workspace_id).to_dict()
    if change.log_retention_days is not None:
        ws.log_retention_days = change.log_retention_days
    if change.clear_email:
        ws.notify_email = None
    elif change.notify_email is not None:
        ws.notify_email = change.notify_email
    if change.notify_on_success is not None:
        ws.notify_on_success = change.notify_on_success
    if change.notify_on_failure is not None:
        ws.notify_on_failure = change.notify_on_failure
    session.flush()
    after = show_preferences(session, workspace_id)
    changed = [
        f"{key}: {before[key]} -> {value}"
        for key, value in after.to_dict().items()
        if before[key] != value
    ]
    if changed:
        add_log_entry(
            session, workspace_id, "INFO", "Workspace settings changed", "; ".join(changed)
        )
    return after
