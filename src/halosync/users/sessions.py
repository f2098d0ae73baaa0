"""Server-side web UI sessions: started at log-in, ended at log-out, by a password change,
by an administrator, or by idle and absolute expiry.

The browser holds only a random token; the ``user_session`` table holds its SHA-256, so a
database leak yields no usable cookie, and ending a row ends the session everywhere at once
(a copied cookie included).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from halosync.settings import Settings
from halosync.store.models import NAME_LENGTH, User, UserSession
from halosync.store.tokens import hash_token
from halosync.store.user_sessions import UserSessionRepository

# Writing last_seen_at on every request would turn each page view into a write.
TOUCH_INTERVAL = timedelta(minutes=1)
# Ended rows stay this long so the log-in page can say why the session ended.
KEEP_ENDED = timedelta(days=1)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")

END_MESSAGES = {
    "logout": "You have been logged out.",
    "password": "Your password was changed, which ended your session. Log in again.",
    "admin": "An administrator ended your session. Log in again.",
    "disabled": "Your session has ended. Log in again.",
    "idle": "Your session ended after {idle} minutes without activity. Log in again.",
    "expired": "Your session reached its {hours}-hour limit. Log in again.",
}


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` since its last request, ``absolute`` since log-in."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        """``HALOSYNC_SESSION_IDLE_MINUTES`` and ``HALOSYNC_SESSION_MAX_HOURS``."""
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_max_hours),
        )

    def end_message(self, reason: str) -> str | None:
        """The sentence the log-in page shows for a session ended for ``reason``."""
        text = END_MESSAGES.get(reason)
        if text is None:
            return None
        return text.format(
            idle=int(self.idle.total_seconds() // 60),
            hours=int(self.absolute.total_seconds() // 3600),
        )


@dataclass(frozen=True)
class LiveSession:
    """A session that may be used now."""

    id: int
    user_id: int
    flashes: list[tuple[str, str]]


@dataclass(frozen=True)
class EndedSession:
    """A token whose session is over, and why."""

    reason: str


@dataclass(frozen=True)
class SessionView:
    """A session as an administrator lists it (never the token or its hash)."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    address: str | None
    user_agent: str | None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "address": self.address,
            "user_agent": self.user_agent,
        }


def new_token() -> str:
    """A fresh random cookie token (256 bits)."""
    return secrets.token_urlsafe(32)


def well_formed(token: str | None) -> bool:
    """Whether ``token`` could be one of ours (anything else is not looked up)."""
    return token is not None and _TOKEN.fullmatch(token) is not None


def start_session(
    db: Session,
    user_id: int,
    *,
    now: datetime,
    policy: SessionPolicy,
    address: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, int]:
    """A new session for ``user_id``: its token (stored only as a hash) and its id."""
    _prune(db, now, policy)
    token = new_token()
    row = UserSession(
        user_id=user_id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:NAME_LENGTH] or None,
    )
    UserSessionRepository(db).add(row)
    return token, row.id


@dataclass(frozen=True)
class SessionCheck:
    """What a token opens, read without writing, and whether resuming it must write
    (the session ends now, or its ``last_seen_at`` is due)."""

    found: LiveSession | EndedSession | None
    must_write: bool


def check_session(db: Session, token: str, *, now: datetime, policy: SessionPolicy) -> SessionCheck:
    """:func:`resume_session` without its writes: a page load reads only, except at most
    once a minute per session (``must_write``: then call :func:`resume_session`)."""
    found, row, ending = _examine(db, token, now, policy)
    due = row is not None and now - row.last_seen_at >= TOUCH_INTERVAL
    return SessionCheck(found, must_write=ending is not None or due)


def resume_session(
    db: Session, token: str, *, now: datetime, policy: SessionPolicy
) -> LiveSession | EndedSession | None:
    """The live session ``token`` opens, why it ended, or None for a token never issued.

    A session past its idle or absolute limit is ended here, so it stays ended even if
    the limits are raised later.
    """
    found, row, ending = _examine(db, token, now, policy)
    if row is None:
        return found
    if ending is not None:
        row.ended_at, row.end_reason = now, ending
    elif now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
    return found


def _examine(
    db: Session, token: str, now: datetime, policy: SessionPolicy
) -> tuple[LiveSession | EndedSession | None, UserSession | None, str | None]:
    """What ``token`` opens, its live row (None once ended or never issued), and the reason
    it ends now (None while it lives)."""
    if not well_formed(token):
        return None, None, None
    row = UserSessionRepository(db).by_token_hash(hash_token(token))
    if row is None:
        return None, None, None
    if row.ended_at is not None:
        return EndedSession(row.end_reason or "logout"), None, None
    user = db.get(User, row.user_id)
    reason: str | None = None
    if user is None or user.disabled:
        reason = "disabled"
    elif now - row.created_at >= policy.absolute:
        reason = "expired"
    elif now - row.last_seen_at >= policy.idle:
        reason = "idle"
    if reason is not None:
        return EndedSession(reason), row, reason
    flashes = [
        (str(kind), str(text))
        for kind, text in (row.flashes or [])
        if isinstance(kind, str) and isinstance(text, str)
    ]
    return LiveSession(row.id, row.user_id, flashes), row, None


def save_flashes(db: Session, session_id: int, flashes: list[tuple[str, str]]) -> None:
    """Keep the messages a live session shows on its next page."""
    UserSessionRepository(db).save_flashes(session_id, [list(pair) for pair in flashes] or None)


def end_session(db: Session, token: str, reason: str, *, now: datetime) -> None:
    """End the session ``token`` opens (log-out); nothing when there is none."""
    if well_formed(token):
        UserSessionRepository(db).end_by_token_hash(hash_token(token), reason, now)


def end_user_sessions(
    db: Session, user_id: int, reason: str, *, now: datetime, session_id: int | None = None
) -> int:
    """End every live session of a user (or only ``session_id``); returns how many."""
    return UserSessionRepository(db).end_for_user(user_id, reason, now, session_id=session_id)


def live_sessions(
    db: Session, user_id: int, *, now: datetime, policy: SessionPolicy
) -> list[SessionView]:
    """A user's sessions that are neither ended nor past a limit, newest first."""
    rows = UserSessionRepository(db).open_of(
        user_id, created_after=now - policy.absolute, seen_after=now - policy.idle
    )
    return [
        SessionView(row.id, row.created_at, row.last_seen_at, row.address, row.user_agent)
        for row in rows
    ]


def _prune(db: Session, now: datetime, policy: SessionPolicy) -> None:
    # Rows ended a while ago, or too old to be alive whatever happened to them, go.
    UserSessionRepository(db).prune(
        ended_before=now - KEEP_ENDED, created_before=now - policy.absolute - KEEP_ENDED
    )
