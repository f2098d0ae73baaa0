"""``/tokens``: a workspace's API tokens; admins create (shown once) and revoke them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from halosync.domain.models import Role
from halosync.store.database import Database
from halosync.users import tokens
from halosync.users.tokens import TokenView
from halosync.web.api.auth import Caller, get_database, writer
from halosync.web.api.deps import PREFIX, ShortText
from halosync.web.api.errors import ERROR_RESPONSES
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["tokens"], route_class=JsonBodyRoute)


class TokenOut(BaseModel):
    """A token as listed: never the token itself (only its hash is stored)."""

    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    """A new token: ``token`` is shown this once and cannot be shown again."""

    token: str


class TokenIn(BaseModel):
    """A token to create."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText = Field(min_length=1, description="What the token is for.")
    role: Role = Field(
        default="viewer", description="viewer reads; admin may also change anything."
    )


def _out(view: TokenView) -> TokenOut:
    return TokenOut.model_validate(view, from_attributes=True)


@router.get("/tokens", response_model=list[TokenOut], responses=ERROR_RESPONSES)
def list_tokens(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """Every token of the workspace, revoked ones included (admins only)."""
    return [_out(view) for view in tokens.list_tokens(database, caller.workspace_id)]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, responses=ERROR_RESPONSES)
def create_token(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    body: Annotated[TokenIn, Body()],
) -> Any:
    """A new token for this workspace; keep it now, it is never shown again."""
    issued, token = tokens.issue_token(database, caller.workspace_id, body.name, body.role)
    return IssuedTokenOut(**_out(issued).model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=ERROR_RESPONSES)
def revoke_token(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
) -> Any:
    """Revoke a token; it stops working at once."""
    return _out(tokens.revoke_token(database, caller.workspace_id, token_id))
