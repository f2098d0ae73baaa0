"""``/review``: changes held before they bill; approve writes at once, reject remembers.

Approving runs a usage sync of just the approved pairs inline (a handful of records), so
the answer says what was written; the ledger, audit and one-sync-at-a-time rules are a
sync's own. The policy that decides what is held is ``/review/policy``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from halosync.domain.review import ReviewPolicy
from halosync.errors import ValidationFailedError
from halosync.logging import redact_text
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.approve import approve_and_write
from halosync.sync.halo import HaloFactory
from halosync.sync.review import (
    list_review,
    policy_dict,
    reject_review,
    review_policy,
    set_review_policy,
)
from halosync.web.api.auth import Caller, current_caller, get_database, writer
from halosync.web.api.deps import PREFIX, get_box, get_halo_factory, get_settings
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute
from halosync.web.api.syncs import ChangeOut

router = APIRouter(prefix=PREFIX, tags=["review"], route_class=JsonBodyRoute)

MAX_IDS = 1000


class ReviewItemOut(BaseModel):
    """One change held for review: where it would go, before → after, why, since when."""

    id: int
    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    term: str = Field(
        description='The term of a record kept apart (terms rule "apart"), e.g. "annual"; '
        '"" for the account × service\'s one record.'
    )
    target: Literal["licence", "invoice_line"]
    action: Literal["create", "update"]
    halo_record: str = Field(description='"licence 17 of HaloPSA client 1", "new line on ..."')
    halo_record_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    change: str = Field(description='"count 12 → 1200"')
    why: str = Field(description="Which rules of the review policy held it.")
    status: Literal["pending", "approved", "rejected"]
    first_seen_at: datetime
    last_seen_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class ReviewListOut(BaseModel):
    """Review items, oldest first."""

    items: list[ReviewItemOut]


class DecisionIn(BaseModel):
    """The items to decide on: their ids, or ``"all": true`` for every pending item."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default=[], max_length=MAX_IDS)
    all: bool = False


class ApprovalOut(BaseModel):
    """Approved items and what the write made of them."""

    approved: list[ReviewItemOut]
    run_id: int | None = Field(description="The usage sync that wrote them.")
    written: int = Field(description="How many were written to HaloPSA.")
    error: str | None = Field(
        description="Why nothing could be written now (the approval stands: the next sync "
        "writes it), or None."
    )
    results: list[ChangeOut]


class RejectionOut(BaseModel):
    """Rejected items: HaloPSA was left as it is."""

    rejected: list[ReviewItemOut]


class PolicyIO(BaseModel):
    """When a planned write waits for review; null (or false) turns a rule off."""

    model_config = ConfigDict(extra="forbid")

    change_above_units: int | None = Field(
        default=None, ge=0, description="Hold an update moving the quantity by more than N."
    )
    change_above_percent: int | None = Field(
        default=50, ge=0, description="Hold an update moving the quantity by more than P %."
    )
    new_above_units: int | None = Field(
        default=None, ge=0, description="Hold a new licence or line above N units."
    )
    any_price_change: bool = Field(default=False, description="Hold every price change.")
    drop_to_zero: bool = Field(default=True, description="Hold every drop to 0.")


def _which(body: DecisionIn) -> list[int] | None:
    if body.all and body.ids:
        raise ApiError(
            422,
            "Name review item ids or send all: true, not both; nothing was changed.",
            errors=[ErrorItem(location="$.all", message="must be false when ids are given")],
        )
    if not body.all and not body.ids:
        raise ApiError(
            422,
            "Name the review items to decide on (ids), or send all: true; nothing was changed.",
            errors=[ErrorItem(location="$.ids", message="name at least one review item")],
        )
    return None if body.all else body.ids


def _decided(error: ValidationFailedError) -> ApiError:
    """An item already decided: a 422 that names where."""
    return ApiError(422, error.message, errors=[ErrorItem(location="$.ids", message=error.message)])


def _actor(caller: Caller) -> str:
    return f"API token {caller.token_id}"


@router.get("/review", response_model=ReviewListOut, responses=ERROR_RESPONSES)
def get_review(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    status: Annotated[
        Literal["pending", "approved", "rejected", "all"],
        Query(description="pending (the queue, default), approved, rejected or all."),
    ] = "pending",
) -> Any:
    """The changes held for review, oldest first."""
    items = list_review(database, caller.workspace_id, status=None if status == "all" else status)
    return {"items": [item.to_dict() for item in items]}


@router.post("/review/approve", response_model=ApprovalOut, responses=ERROR_RESPONSES)
def approve(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_settings)],
    box: Annotated[SecretBox, Depends(get_box)],
    factory: Annotated[HaloFactory | None, Depends(get_halo_factory)],
    body: Annotated[DecisionIn, Body()],
) -> Any:
    """Approve held changes and write them to HaloPSA now (a usage sync of just those
    account × service pairs). A value the vendor changed since is held anew instead. 404
    names an unknown id, 422 one already decided; nothing is changed then."""
    try:
        report = asyncio.run(
            approve_and_write(
                database,
                box,
                settings,
                caller.workspace_id,
                _which(body),
                actor=_actor(caller),
                trigger="api",
                halo_factory=factory,
            )
        )
    except ValidationFailedError as error:
        raise _decided(error) from None
    data = report.to_dict()
    data["error"] = redact_text(report.error) if report.error else None
    return data


@router.post("/review/reject", response_model=RejectionOut, responses=ERROR_RESPONSES)
def reject(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    body: Annotated[DecisionIn, Body()],
) -> Any:
    """Reject held changes: HaloPSA stays as it is, and a later sync planning the same
    value skips it without asking again (a different value is held anew)."""
    try:
        items = reject_review(database, caller.workspace_id, _which(body), actor=_actor(caller))
    except ValidationFailedError as error:
        raise _decided(error) from None
    return {"rejected": [item.to_dict() for item in items]}


@router.get("/review/policy", response_model=PolicyIO, responses=ERROR_RESPONSES)
def get_policy(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """The workspace's review policy."""
    return policy_dict(review_policy(database, caller.workspace_id))


@router.put("/review/policy", response_model=PolicyIO, responses=ERROR_RESPONSES)
def put_policy(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    body: Annotated[PolicyIO, Body()],
) -> Any:
    """Replace the review policy (fields left out take the recommended rules: ± 50 % and
    drop to 0 on, the others off); applies from the next sync."""
    policy = ReviewPolicy(**body.model_dump())
    saved = set_review_policy(database, caller.workspace_id, policy, actor=_actor(caller))
    return policy_dict(saved)
