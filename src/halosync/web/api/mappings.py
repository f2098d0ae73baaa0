"""``/mappings``: account and service mapping grids, map/unmap, suggestions, pickers, counts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from halosync.domain.matching import DEFAULT_MIN_SCORE
from halosync.domain.models import AccountStatus
from halosync.mapping.follow_up import accept_and_follow_up, map_account_and_follow_up
from halosync.mapping.grid import (
    MAX_PAGE_SIZE,
    SORT_KEYS,
    AccountMappingRow,
    HaloClientStatus,
    MappingStatus,
    account_mapping_grid,
    account_mapping_row,
    service_mapping_grid,
    service_mapping_row,
    unmapped_halo_clients,
)
from halosync.mapping.pickers import halo_items
from halosync.mapping.service import (
    live_invoices_of,
    map_service,
    suggest_account_mappings,
    unmap_account,
    unmap_service,
)
from halosync.setup.service import setup_finished, setup_readiness
from halosync.store.database import Database
from halosync.web.api.auth import Caller, current_caller, get_database, writer
from halosync.web.api.deps import PREFIX, PageNumber, get_settings
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute
from halosync.web.api.syncs import get_job_queue

router = APIRouter(prefix=PREFIX + "/mappings", tags=["mappings"], route_class=JsonBodyRoute)

HaloId = Annotated[int, Field(ge=1, le=2_147_483_647)]
RecurringInvoiceId = Annotated[
    int,
    Field(
        ge=-2_147_483_648,
        le=2_147_483_647,
        description="Halo's recurring-invoice ids are negative (-94), as Halo shows them.",
    ),
]
AccountRef = Annotated[str, Path(min_length=1, max_length=255, description="Account reference.")]
ServiceRef = Annotated[str, Path(min_length=1, max_length=255, description="Service reference.")]
Search = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Matches account name, reference, Halo client name and Halo client id.",
    ),
]


class AccountMappingOut(BaseModel):
    """One row of the account mapping grid."""

    account_ref: str
    account_name: str
    account_status: str
    billed: bool
    halo_client_id: int | None
    halo_client_name: str | None
    halo_client_status: str | None
    recurring_invoice_id: int | None
    recurring_invoice_name: str | None
    status: MappingStatus
    status_label: str = Field(description="Mapped, Unmapped, Required or Response Error.")
    status_message: str | None = Field(description="What to do about the status, if anything.")
    mapped_at: datetime | None
    follow_up: str | None = Field(
        default=None,
        description="What saving started, e.g. creating the account's licences at once.",
    )
    attention: list[str] = Field(
        default_factory=list,
        description=(
            "What needs an admin about this account's services, from each one's latest sync: "
            "e.g. 'MAIL: recurring invoice -1 has several lines for this item ... (lines "
            "24002, 24005)' (nothing is written for that service until one line is left)."
        ),
    )
    excluded: str | None = Field(
        default=None,
        description="Why the account is excluded from billing by a quantity rule, if it is "
        "(excluded is not unmapped: the mapping and its status stay).",
    )
    service_rules: dict[str, str] = Field(
        default_factory=dict,
        description="The account's own rule per service in force today, by service "
        "reference: {'MAIL': 'minimum 5', 'BKP': 'excluded: own backup'}.",
    )


class AccountMappingPage(BaseModel):
    """One page of the account mapping grid."""

    items: list[AccountMappingOut]
    total: int
    page: int
    page_size: int


class AccountMappingIn(BaseModel):
    """Map an account to a Halo client (and, for invoice lines, a recurring invoice)."""

    model_config = ConfigDict(extra="forbid")

    halo_client_id: HaloId
    recurring_invoice_id: RecurringInvoiceId | None = Field(
        default=None,
        description="Required for the invoice_line target when the client has several "
        "(Halo's recurring-invoice ids are negative).",
    )


class UnmappedOut(BaseModel):
    """What an unmap did: Halo keeps what was written; the ledger still knows it."""

    ref: str
    removed: bool


class ServiceMappingOut(BaseModel):
    """One row of the service mapping grid."""

    service_ref: str
    service_name: str
    halo_item_id: int | None
    halo_item_name: str | None
    mapped: bool
    rule: str = Field(
        default="",
        description="The service's own quantity rule in force today ('free 3, minimum 25'); "
        "empty when the workspace default applies.",
    )
    excluded: str | None = Field(
        default=None, description="Why the service is excluded from billing, if it is."
    )


class ServiceMappingList(BaseModel):
    """The service mapping grid (services are few: no paging)."""

    items: list[ServiceMappingOut]
    total: int


class ServiceMappingIn(BaseModel):
    """Map a service to a Halo item."""

    model_config = ConfigDict(extra="forbid")

    halo_item_id: HaloId


class RecurringInvoiceOut(BaseModel):
    """An active recurring invoice of a Halo client."""

    id: int
    name: str


class HaloClientOut(BaseModel):
    """A Halo client no account is mapped to yet."""

    halo_client_id: int
    name: str
    inactive: bool
    recurring_invoices: list[RecurringInvoiceOut]


class HaloItemOut(BaseModel):
    """A Halo item."""

    halo_item_id: int
    name: str
    inactive: bool


class SuggestIn(BaseModel):
    """Ask for suggestions; with ``accept`` save them (all, or those in ``account_refs``)."""

    model_config = ConfigDict(extra="forbid")

    min_score: int = Field(default=DEFAULT_MIN_SCORE, ge=0, le=100)
    accept: bool = False
    account_refs: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        default=None, max_length=10_000, description="Accept only these accounts' suggestions."
    )


class SuggestionOut(BaseModel):
    """A proposed mapping with its 0-100 score, and what accepting it did."""

    account_ref: str
    account_name: str
    halo_client_id: int
    halo_client_name: str
    score: int
    exact: bool
    tied_with: list[int] = Field(
        default_factory=list,
        description="Other Halo clients that score as high for this account (a tie): "
        "accepting never saves such a suggestion; map the account by hand.",
    )
    saved: bool
    note: str | None
    recurring_invoice_id: int | None


class SuggestOut(BaseModel):
    """Suggestions for unmapped accounts; saved mappings are never overwritten."""

    suggestions: list[SuggestionOut]
    saved: int
    follow_up: str | None = Field(
        default=None, description="What saving started, e.g. creating licences at once."
    )


class SummaryOut(BaseModel):
    """Totals for the setup summary and the dashboard, and whether setup may finish."""

    target: str
    accounts_total: int
    accounts_mapped: int
    accounts_unmapped: int
    accounts_required: int = Field(description="Mapped, but missing a recurring invoice.")
    services_total: int
    services_mapped: int
    services_unmapped: int
    can_finish: bool
    blocking: list[str]
    setup_finished: bool = Field(
        description="Setup was finished (POST /setup/finish): automatic syncs run."
    )


def _row_out(row: AccountMappingRow) -> AccountMappingOut:
    message = None
    if row.status == "response_error":
        message = "Please refresh the page in a few minutes and try again."
    elif row.status == "required":
        message = "The Halo client has no recurring invoice; create one or pick another client."
    return AccountMappingOut(
        account_ref=row.account_ref,
        account_name=row.account_name,
        account_status=row.account_status,
        billed=row.billed,
        halo_client_id=row.halo_client_id,
        halo_client_name=row.halo_client_name,
        halo_client_status=row.halo_client_status,
        recurring_invoice_id=row.recurring_invoice_id,
        recurring_invoice_name=row.recurring_invoice_name,
        status=row.status,
        status_label=row.status_label,
        status_message=message,
        mapped_at=row.mapped_at,
        attention=list(row.attention),
        excluded=row.excluded,
        service_rules=dict(row.service_rules),
    )


def _one_row(database: Database, workspace_id: int, account_ref: str) -> AccountMappingOut:
    with database.session() as session:
        row = account_mapping_row(session, workspace_id, account_ref)
    if row is None:
        raise ApiError(404, f"No account with reference {account_ref!r} in this workspace.")
    return _row_out(row)


def _check_search_id(search: str | None, location: str) -> None:
    term = (search or "").strip()
    # An all-digit term is also looked up as an id, which must be a small ASCII number.
    if term.isdigit() and not (term.isascii() and len(term) <= 18):
        raise ApiError(
            422,
            "The search term cannot be a Halo id.",
            errors=[ErrorItem(location=location, message="digits must be 0-9, at most 18 of them")],
        )


@router.get("/accounts", response_model=AccountMappingPage, responses=ERROR_RESPONSES)
def account_grid(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    search: Search = None,
    status: Annotated[MappingStatus | None, Query(description="Only rows of this status.")] = None,
    account_status: Annotated[
        AccountStatus | None,
        Query(description="Only accounts with this status (the vendor's)."),
    ] = None,
    halo_client_status: Annotated[
        HaloClientStatus | None,
        Query(description="Only rows whose Halo client is active, inactive or gone."),
    ] = None,
    excluded: Annotated[
        bool,
        Query(
            description="Only accounts excluded from billing today by a quantity rule "
            "(themselves or one of their services); not a mapping status."
        ),
    ] = False,
    sort: Annotated[
        Literal[
            "account_name",
            "account_ref",
            "account_status",
            "halo_client_name",
            "halo_client_id",
            "status",
        ],
        Query(description="Column to sort by."),
    ] = "account_name",
    descending: bool = False,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> Any:
    """The account mapping grid: searched, filtered, sorted and paged in the database."""
    assert sort in SORT_KEYS
    with database.session() as session:
        found = account_mapping_grid(
            session,
            caller.workspace_id,
            search=search,
            status=status,
            account_status=account_status,
            halo_client_status=halo_client_status,
            excluded=excluded,
            sort=sort,
            descending=descending,
            page=page,
            page_size=page_size,
        )
    return AccountMappingPage(
        items=[_row_out(row) for row in found.items],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
    )


@router.put(
    "/accounts/{account_ref:path}", response_model=AccountMappingOut, responses=ERROR_RESPONSES
)
def put_account_mapping(
    http: Request,
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    account_ref: AccountRef,
    body: Annotated[AccountMappingIn, Body()],
) -> Any:
    """Map (or remap) an account to a Halo client, 1:1. Future writes go to the new client;
    what was written earlier stays where it is."""
    mapped = map_account_and_follow_up(
        database,
        get_settings(http),
        get_job_queue(http),
        caller.workspace_id,
        account_ref,
        body.halo_client_id,
        recurring_invoice_id=body.recurring_invoice_id,
    )
    row = _row_out(mapped.row)
    row.follow_up = mapped.follow_up.text if mapped.follow_up else None
    return row


@router.delete(
    "/accounts/{account_ref:path}", response_model=UnmappedOut, responses=ERROR_RESPONSES
)
def delete_account_mapping(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    account_ref: AccountRef,
) -> Any:
    """Unmap an account; what was written in Halo is left untouched."""
    with database.session() as session:
        removed = unmap_account(session, caller.workspace_id, account_ref)
    return UnmappedOut(ref=account_ref, removed=removed)


@router.post("/accounts/suggest", response_model=SuggestOut, responses=ERROR_RESPONSES)
def suggest(
    http: Request,
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    body: Annotated[SuggestIn | None, Body()] = None,
) -> Any:
    """Suggest Mappings by fuzzy name; with ``accept`` true, save them (never over a saved
    mapping). Suggestions that cannot be saved say why."""
    request = body or SuggestIn()
    with database.session() as session:
        suggestions = suggest_account_mappings(
            session, caller.workspace_id, min_score=request.min_score
        )
        if not request.accept:
            outs = [
                SuggestionOut(
                    account_ref=s.account_ref,
                    account_name=s.account_name,
                    halo_client_id=s.halo_client_id,
                    halo_client_name=s.halo_client_name,
                    score=s.score,
                    exact=s.exact,
                    tied_with=list(s.tied_with),
                    saved=False,
                    note=None,
                    recurring_invoice_id=None,
                )
                for s in suggestions
            ]
            return SuggestOut(suggestions=outs, saved=0)
    wanted = set(request.account_refs) if request.account_refs is not None else None
    chosen = [s for s in suggestions if wanted is None or s.account_ref in wanted]
    accepted = accept_and_follow_up(
        database, get_settings(http), get_job_queue(http), caller.workspace_id, chosen
    )
    outs = [
        SuggestionOut(
            account_ref=o.suggestion.account_ref,
            account_name=o.suggestion.account_name,
            halo_client_id=o.suggestion.halo_client_id,
            halo_client_name=o.suggestion.halo_client_name,
            score=o.suggestion.score,
            exact=o.suggestion.exact,
            tied_with=list(o.suggestion.tied_with),
            saved=o.saved,
            note=o.note,
            recurring_invoice_id=o.recurring_invoice_id,
        )
        for o in accepted.outcomes
    ]
    follow_up = accepted.follow_up
    return SuggestOut(
        suggestions=outs, saved=accepted.saved, follow_up=follow_up.text if follow_up else None
    )


@router.get("/halo-clients", response_model=list[HaloClientOut], responses=ERROR_RESPONSES)
def unmapped_clients(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    search: Annotated[str | None, Query(max_length=200, description="Name or Halo id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Halo clients no account is mapped to (the 1:1 picker), with their recurring invoices."""
    _check_search_id(search, "query.search")
    with database.session() as session:
        clients = unmapped_halo_clients(session, caller.workspace_id, search=search, limit=limit)
        return [
            HaloClientOut(
                halo_client_id=client.halo_id,
                name=client.name,
                inactive=client.inactive,
                recurring_invoices=[
                    RecurringInvoiceOut(id=invoice.halo_id, name=invoice.name)
                    for invoice in live_invoices_of(session, caller.workspace_id, client.halo_id)
                ],
            )
            for client in clients
        ]


@router.get("/services", response_model=ServiceMappingList, responses=ERROR_RESPONSES)
def service_grid(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """Every service with its Halo item, by name."""
    with database.session() as session:
        rows = service_mapping_grid(session, caller.workspace_id)
    items = [
        ServiceMappingOut(
            service_ref=r.service_ref,
            service_name=r.service_name,
            halo_item_id=r.halo_item_id,
            halo_item_name=r.halo_item_name,
            mapped=r.mapped,
            rule=r.rule,
            excluded=r.excluded,
        )
        for r in rows
    ]
    return ServiceMappingList(items=items, total=len(items))


@router.put(
    "/services/{service_ref:path}", response_model=ServiceMappingOut, responses=ERROR_RESPONSES
)
def put_service_mapping(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    service_ref: ServiceRef,
    body: Annotated[ServiceMappingIn, Body()],
) -> Any:
    """Map (or remap) a service to a Halo item."""
    with database.session() as session:
        map_service(session, caller.workspace_id, service_ref, body.halo_item_id)
        row = service_mapping_row(session, caller.workspace_id, service_ref)
    assert row is not None  # map_service refuses an unknown service
    return ServiceMappingOut(
        service_ref=row.service_ref,
        service_name=row.service_name,
        halo_item_id=row.halo_item_id,
        halo_item_name=row.halo_item_name,
        mapped=row.mapped,
    )


@router.delete(
    "/services/{service_ref:path}", response_model=UnmappedOut, responses=ERROR_RESPONSES
)
def delete_service_mapping(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    service_ref: ServiceRef,
) -> Any:
    """Unmap a service; what was written in Halo is left untouched."""
    with database.session() as session:
        removed = unmap_service(session, caller.workspace_id, service_ref)
    return UnmappedOut(ref=service_ref, removed=removed)


@router.get("/halo-items", response_model=list[HaloItemOut], responses=ERROR_RESPONSES)
def list_halo_items(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    search: Annotated[str | None, Query(max_length=200, description="Name or Halo id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Halo items to map services to (pulled by Sync Organizations)."""
    with database.session() as session:
        items = halo_items(session, caller.workspace_id, search=search, limit=limit)
        return [
            HaloItemOut(halo_item_id=i.halo_id, name=i.name, inactive=i.inactive) for i in items
        ]


@router.get("/summary", response_model=SummaryOut, responses=ERROR_RESPONSES)
def summary(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """Total/mapped/unmapped accounts and services, and what blocks finishing setup."""
    with database.session() as session:
        readiness = setup_readiness(session, caller.workspace_id)
        finished = setup_finished(session, caller.workspace_id)
    counts = readiness.counts
    return SummaryOut(
        target=readiness.target,
        accounts_total=counts.accounts_total,
        accounts_mapped=counts.accounts_mapped,
        accounts_unmapped=counts.accounts_unmapped,
        accounts_required=readiness.accounts_required,
        services_total=counts.services_total,
        services_mapped=counts.services_mapped,
        services_unmapped=counts.services_unmapped,
        can_finish=readiness.can_finish,
        blocking=readiness.blocking,
        setup_finished=finished,
    )
