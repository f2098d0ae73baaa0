"""Rows of ``user_session``: web UI sessions, found by the SHA-256 of their token.

The rules (when a session ends, how long ended rows are kept) live in
:mod:`halosync.users.sessions`; this is only their SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from halosync.store.models import UserSession


class UserSessionRepository:
    """Every user's web sessions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: UserSession) -> UserSession:
        """Store a new session row (its id set)."""
        self.session.add(row)
        self.session.flush()
        return row

    def by_token_hash(self, token_hash: str) -> UserSession | None:
        """The session whose token hashes to ``token_hash``, ended or not."""
        return self.session.scalar(select(UserSession).where(UserSession.token_hash == token_hash))

    def save_flashes(self, session_id: int, flashes: list[list[str]] | None) -> None:
        """Replace a live session's pending messages."""
        self.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
            .values(flashes=flashes)
        )

    def end_by_token_hash(self, token_hash: str, reason: str, now: datetime) -> None:
        """End the live session with this token hash, if there is one."""
        self.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_hash, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason, flashes=None)
        )

    def end_for_user(
        self, user_id: int, reason: str, now: datetime, *, session_id: int | None = None
    ) -> int:
        """End a user's live sessions (or only ``session_id``); how many."""
        statement = (
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason, flashes=None)
        )
        if session_id is not None:
            statement = statement.where(UserSession.id == session_id)
        return int(getattr(self.session.execute(statement), "rowcount", 0) or 0)

    def open_of(
        self, user_id: int, *, created_after: datetime, seen_after: datetime
    ) -> Sequence[UserSession]:
        """A user's sessions not ended, created and last seen after the given moments,
        newest first."""
        return self.session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user_id,
                UserSession.ended_at.is_(None),
                UserSession.created_at > created_after,
                UserSession.last_seen_at > seen_after,
            )
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        ).all()

    def prune(self, *, ended_before: datetime, created_before: datetime) -> None:
        """Drop rows ended before ``ended_before`` or created before ``created_before``."""
        self.session.execute(
            delete(UserSession).where(
                or_(UserSession.ended_at < ended_before, UserSession.created_at < created_before)
            )
        )
