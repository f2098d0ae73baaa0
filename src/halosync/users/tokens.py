"""REST API tokens of a workspace: issue (shown once), list, revoke, and who a token is.

The service the CLI (``halosync token``) and the API (``/tokens``, the bearer check) call;
only the token's hash is stored, by :class:`halosync.store.tokens.ApiTokenRepository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from halosync.store.database import Database
from halosync.store.models import ApiToken
from halosync.store.tokens import ApiTokenRepository, authenticate_token
from halosync.store.workspaces import WorkspaceRepository


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as listed: never the token itself."""

    id: int
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Who a live token speaks for: its workspace and its role there."""

    token_id: int
    workspace_id: int
    workspace_name: str
    role: str


def _view(row: ApiToken) -> TokenView:
    return TokenView(row.id, row.name, row.role, row.created_at, row.last_used_at, row.revoked_at)


def issue_token(
    database: Database, workspace_id: int, name: str, role: str
) -> tuple[TokenView, str]:
    """A new token with ``role`` ('admin' or 'viewer'), and the token itself (shown once)."""
    with database.session() as session:
        issued = ApiTokenRepository(session, workspace_id).create(name, role)
        return _view(issued.row), issued.token


def list_tokens(database: Database, workspace_id: int) -> list[TokenView]:
    """Every token of the workspace, revoked ones included."""
    with database.session() as session:
        return [_view(row) for row in ApiTokenRepository(session, workspace_id).list()]


def revoke_token(database: Database, workspace_id: int, token_id: int) -> TokenView:
    """Revoke a token by id; it stops working at once."""
    with database.session() as session:
        return _view(ApiTokenRepository(session, workspace_id).revoke(token_id))


def token_owner(database: Database, token: str) -> TokenOwner | None:
    """The workspace and role of a live token (its last use noted), or None."""
    with database.session() as session:
        row = authenticate_token(session, token)
        if row is None:
            return None
        workspace = WorkspaceRepository(session).get(row.workspace_id)
        return TokenOwner(row.id, workspace.id, workspace.name, row.role)
