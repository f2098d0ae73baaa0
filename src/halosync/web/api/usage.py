"""``/api/v1/workspaces/{workspace}/...``: bulk usage upsert and the lists it feeds."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from halosync.sources import usage_data
from halosync.sources.schemas import UsagePayload
from halosync.sources.upload import upsert_upload
from halosync.sources.usage_data import (
    MAX_PAGE_SIZE,
    AccountView,
    Page,
    ServiceView,
    SubscriptionView,
)
from halosync.store.database import Database
from halosync.web.api.auth import Caller, current_caller, get_database, writer
from halosync.web.api.errors import ERROR_RESPONSES
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(
    prefix="/api/v1/workspaces/{workspace}", tags=["usage"], route_class=JsonBodyRoute
)
T = TypeVar("T")


class EntityCountsOut(BaseModel):
    """Records of one kind created, updated, or already as given."""

    created: int
    updated: int
    unchanged: int


class CancelledOut(BaseModel):
    """A subscription a snapshot cancelled."""

    account_ref: str
    service_ref: str
    term: str


class UsageResult(BaseModel):
    """What a usage upsert did."""

    workspace: str
    rows: int
    accounts: EntityCountsOut
    services: EntityCountsOut
    subscriptions: EntityCountsOut
    snapshot: bool
    cancelled: list[CancelledOut]


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    page: int
    page_size: int


def _upsert(
    database: Database,
    caller: Caller,
    body: bytes,
    options: tuple[bool, bool],
    key: str | None,
) -> JSONResponse:
    snapshot, allow_mass_cancel = options
    outcome = upsert_upload(
        database,
        caller.workspace_id,
        body,
        snapshot=snapshot,
        allow_mass_cancel=allow_mass_cancel,
        idempotency_key=key,
    )
    result = UsageResult.model_validate(
        {"workspace": caller.workspace_name} | outcome.report
    ).model_dump(mode="json")
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(result, status_code=200, headers=headers)


def _usage_body_schema() -> dict[str, Any]:
    """The request body's OpenAPI entry; the schemas themselves are added to the document's
    components by :func:`usage_schemas` (the body is read by hand, not by FastAPI)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/UsagePayload"}}
            },
        }
    }


def usage_schemas() -> dict[str, Any]:
    """``UsagePayload`` and the models it uses, as OpenAPI component schemas."""
    schema = UsagePayload.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["UsagePayload"] = schema
    return components


Snapshot = Annotated[
    bool, Query(description="The body is the full list: cancel subscriptions it lacks.")
]
AllowMassCancel = Annotated[
    bool,
    Query(
        description=(
            "With snapshot: go ahead even when the list is empty or would cancel more than "
            "the workspace's snapshot_cancel_limit_percent of its active subscriptions."
        )
    ),
]


@router.post(
    "/usage",
    response_model=UsageResult,
    responses={
        **ERROR_RESPONSES,
        409: ERROR_RESPONSES[422]
        | {"description": "Key reused, or a snapshot that would cancel too many."},
    },
    summary="Bulk upsert accounts, services and subscriptions",
    openapi_extra=_usage_body_schema(),
)
async def upsert_usage(
    request: Request,
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    snapshot: Snapshot = False,
    allow_mass_cancel: AllowMassCancel = False,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Same key and body: the stored answer again, nothing re-applied.",
        ),
    ] = None,
) -> JSONResponse:
    """Validate the whole batch, then write it in one transaction; a bad batch changes
    nothing and the answer (422) names every problem at once, by JSON path (or line and
    column for text that is not JSON, not UTF-8, or nested too deep)."""
    body = await request.body()
    return await run_in_threadpool(
        _upsert, database, caller, body, (snapshot, allow_mass_cancel), idempotency_key
    )


PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Rows per page.")]


def _page_out(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
    }


@router.get("/accounts", response_model=PageOut[AccountView], responses=ERROR_RESPONSES)
def list_accounts(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    page: PageNumber = 1,
    page_size: PageSize = 50,
) -> dict[str, Any]:
    """The workspace's accounts, by reference."""
    found = usage_data.list_accounts(database, caller.workspace_id, page, page_size)
    return _page_out(found)


@router.get("/services", response_model=PageOut[ServiceView], responses=ERROR_RESPONSES)
def list_services(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    page: PageNumber = 1,
    page_size: PageSize = 50,
) -> dict[str, Any]:
    """The workspace's services, by reference."""
    found = usage_data.list_services(database, caller.workspace_id, page, page_size)
    return _page_out(found)


@router.get("/subscriptions", response_model=PageOut[SubscriptionView], responses=ERROR_RESPONSES)
def list_subscriptions(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    page: PageNumber = 1,
    page_size: PageSize = 50,
    account_ref: Annotated[str | None, Query(description="Only this account's.")] = None,
) -> dict[str, Any]:
    """The workspace's subscriptions, by account then service reference."""
    found = usage_data.list_subscriptions(
        database, caller.workspace_id, page, page_size, account_ref=account_ref
    )
    return _page_out(found)
