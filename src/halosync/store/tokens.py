"""Workspace API tokens: only a SHA-256 of each token is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.domain.models import ROLES
from halosync.domain.text import text_problem
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.logging import register_secret
from halosync.store.base import utcnow
from halosync.store.models import NAME_LENGTH, ApiToken

TOKEN_PREFIX = "hs_"  # noqa: S105  (a public prefix, not a secret)
# Writing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored. Tokens are random, so no salt."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: ``token`` exists only here, never in the database."""

    row: ApiToken
    token: str


class ApiTokenRepository:
    """API tokens of one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def create(self, name: str, role: str = "admin") -> IssuedToken:
        """A new token with ``role`` ('admin' or 'viewer')."""
        clean = name.strip()
        if not clean or len(clean) > NAME_LENGTH:
            raise ValidationFailedError(
                f"Token name must be 1-{NAME_LENGTH} characters, got {name!r}."
            )
        problem = text_problem(clean)
        if problem is not None:
            raise ValidationFailedError(f"Token name {name!r} is not valid: it {problem}.")
        if role not in ROLES:
            raise ValidationFailedError(
                f"Token role {role!r} is not valid: use one of {', '.join(ROLES)}."
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        register_secret(token)
        row = ApiToken(
            workspace_id=self.workspace_id, name=clean, role=role, token_hash=hash_token(token)
        )
        self.session.add(row)
        self.session.flush()
        return IssuedToken(row=row, token=token)

    def list(self) -> Sequence[ApiToken]:
        """Every token of the workspace, revoked ones included."""
        return self.session.scalars(
            select(ApiToken).where(ApiToken.workspace_id == self.workspace_id).order_by(ApiToken.id)
        ).all()

    def revoke(self, token_id: int) -> ApiToken:
        """Revoke a token by id; it stops working at once."""
        row = self.session.scalar(
            select(ApiToken).where(
                ApiToken.workspace_id == self.workspace_id, ApiToken.id == token_id
            )
        )
        if row is None:
            raise NotFoundError(f"No API token with id {token_id} in this workspace.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        self.session.flush()
        return row


def authenticate_token(session: Session, token: str) -> ApiToken | None:
    """The live token row matching ``token`` (any workspace), or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    return row
