"""API token authentication: ``Authorization: Bearer <token>`` scoped to one workspace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from halosync.store.database import Database
from halosync.users.permissions import Action, PermissionDeniedError, may, require_permission
from halosync.users.tokens import token_owner
from halosync.web.api.errors import ApiError

_bearer = HTTPBearer(
    auto_error=False, description="A workspace API token (`halosync token create`)."
)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token of one workspace with one role."""

    token_id: int
    workspace_id: int
    workspace_name: str
    role: str

    @property
    def can_write(self) -> bool:
        """Admins write; viewers only read."""
        return may(self.role, Action.CHANGE)


def get_database(request: Request) -> Database:
    """The app's database."""
    database = request.app.state.database
    assert isinstance(database, Database)
    return database


def _authorise(database: Database, token: str, workspace: str) -> Caller:
    owner = token_owner(database, token)
    if owner is None:
        raise ApiError(401, "The API token is missing, unknown or revoked.")
    # Another workspace's data is "not found", never "forbidden": no hint it exists.
    if workspace not in (owner.workspace_name, str(owner.workspace_id)):
        raise ApiError(404, f"No workspace {workspace!r}.")
    return Caller(
        token_id=owner.token_id,
        workspace_id=owner.workspace_id,
        workspace_name=owner.workspace_name,
        role=owner.role,
    )


async def current_caller(
    database: Annotated[Database, Depends(get_database)],
    workspace: Annotated[str, Path(description="Workspace name or id.")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The authenticated caller, allowed into the workspace named in the path."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "Send an API token as 'Authorization: Bearer <token>'.")
    return await run_in_threadpool(_authorise, database, credentials.credentials, workspace)


def caller_who_may(action: Action) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency: the caller, if its token's role allows ``action`` (else 403)."""

    async def permitted(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        try:
            require_permission(caller.role, action, holder="This API token")
        except PermissionDeniedError as denied:
            raise ApiError(403, denied.message) from None
        return caller

    return permitted


writer = caller_who_may(Action.CHANGE)
"""The caller, if its token may write (role admin)."""
dry_runner = caller_who_may(Action.DRY_RUN)
"""The caller, if its token may make a dry run (role admin)."""
reconciler = caller_who_may(Action.RECONCILE)
"""The caller, if its token may read HaloPSA live for the reconciliation (role admin)."""
