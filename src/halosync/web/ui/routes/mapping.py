"""Account and service mapping: the grid, the Halo client picker, save/cancel, suggestions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from halosync.domain.models import ACCOUNT_STATUSES
from halosync.errors import HalosyncError
from halosync.jobs.schedules import get_schedules
from halosync.jobs.service import has_connection
from halosync.mapping.follow_up import map_account_and_follow_up, save_chosen_and_follow_up
from halosync.mapping.grid import (
    HALO_CLIENT_STATUSES,
    MAPPING_STATUSES,
    RESPONSE_ERROR_TEXT,
    SORT_KEYS,
    STATUS_LABELS,
    AccountMappingRow,
    HaloClientStatus,
    Page,
    account_mapping_grid,
    account_mapping_row,
    mapping_counts,
    mapping_target,
    service_mapping_grid,
    unmapped_halo_clients,
)
from halosync.mapping.pickers import halo_items
from halosync.mapping.service import (
    ChosenMapping,
    live_invoices_of,
    map_service,
    suggest_account_mappings,
    unmap_account,
    unmap_service,
    why_no_suggestions,
)
from halosync.web.api.syncs import get_job_queue
from halosync.web.ui.context import (
    Member,
    UiRoute,
    current_admin,
    current_member,
    redirect,
    refusal,
    render,
    ui_state,
    web_session,
    workspace_url,
)
from halosync.web.ui.forms import whole_number
from halosync.web.ui.launcher import overview
from halosync.web.ui.routes.dashboard import _request

router = APIRouter(route_class=UiRoute)
PAGE_SIZES = (20, 50, 100)
SEARCH_PLACEHOLDER = (
    "Search by organization name, PSA organization name, organization reference or "
    "PSA organization ID"
)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    number = whole_number(value)
    return min(max(default if number is None else number, low), high)


def grid_context(request: Request, member: Member) -> dict[str, Any]:
    """The account grid for the query string's search, status, sort and page."""
    state = ui_state(request)
    params = request.query_params
    search = params.get("q", "").strip()
    status = params.get("status", "all")
    status_filter = status if status in MAPPING_STATUSES else None
    org_status = params.get("org_status", "all")
    org_filter = org_status if org_status in ACCOUNT_STATUSES else None
    excluded = params.get("billing") == "excluded"
    psa_status = params.get("psa_status", "all")
    psa_filter: HaloClientStatus | None = next(
        (known for known in HALO_CLIENT_STATUSES if known == psa_status), None
    )
    sort = params.get("sort", "account_name")
    sort = sort if sort in SORT_KEYS else "account_name"
    descending = params.get("desc") == "1"
    page_size = _int(params.get("size"), 20, 1, 100)
    page = _int(params.get("page"), 1, 1, 10**7)
    with state.database.reading() as db:

        def grid_page(number: int) -> Page[AccountMappingRow]:
            return account_mapping_grid(
                db,
                member.workspace_id,
                search=search or None,
                status=status_filter,
                account_status=org_filter,
                halo_client_status=psa_filter,
                excluded=excluded,
                sort=sort,
                descending=descending,
                page=number,
                page_size=page_size,
            )

        grid = grid_page(page)
        pages = max(1, -(-grid.total // page_size))
        if page > pages:  # past the end (rows went away): show the last page instead
            grid = grid_page(pages)
        target = mapping_target(db, member.workspace_id)
    first = (grid.page - 1) * grid.page_size + 1 if grid.items else 0
    last = first + len(grid.items) - 1 if grid.items else 0
    return {
        "grid": grid,
        "q": search,
        "status": status if status_filter else "all",
        "org_status": org_status if org_filter else "all",
        "org_statuses": ACCOUNT_STATUSES,
        "psa_status": psa_status if psa_filter else "all",
        "billing": "excluded" if excluded else "all",
        "psa_statuses": HALO_CLIENT_STATUSES,
        "sort": sort,
        "desc": descending,
        "page_size": page_size,
        "pages": max(1, -(-grid.total // page_size)),
        "range_text": f"{first} – {last} of {grid.total}" if grid.items else f"0 of {grid.total}",
        "statuses": MAPPING_STATUSES,
        "status_labels": STATUS_LABELS,
        "sort_keys": SORT_KEYS,
        "page_sizes": PAGE_SIZES,
        "target": target,
        "overview": overview(state.database, member.workspace_id),
        "response_error_text": RESPONSE_ERROR_TEXT,
        "search_placeholder": SEARCH_PLACEHOLDER,
    }


def toolbar_context(request: Request, member: Member) -> dict[str, Any]:
    """What the account page shows above the grid: the totals, the schedules, whether
    Halo is connected and its clients pulled. Not read again when htmx asks for the grid
    alone (the totals count every account and mapping of the workspace)."""
    state = ui_state(request)
    with state.database.reading() as db:
        counts = mapping_counts(db, member.workspace_id)
        halo_pulled = bool(
            counts.accounts_mapped or unmapped_halo_clients(db, member.workspace_id, limit=1)
        )
        return {
            "counts": counts,
            "halo_pulled": halo_pulled,
            "schedules": get_schedules(db, member.workspace_id),
            "connected": has_connection(db, member.workspace_id),
        }


def service_context(request: Request, member: Member) -> dict[str, Any]:
    """Every service with its Halo item, and the items to choose from."""
    state = ui_state(request)
    with state.database.reading() as db:
        rows = service_mapping_grid(db, member.workspace_id)
        items = [(item.halo_id, item.name) for item in halo_items(db, member.workspace_id)]
        counts = mapping_counts(db, member.workspace_id)
    return {"services": rows, "items": items, "counts": counts}


@router.get("/ui/w/{workspace_id}/accounts")
def accounts(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The account mapping page; htmx asks for the grid alone when filters change."""
    context = {"member": member, "page": "accounts", **grid_context(request, member)}
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "grid":
        return render(request, "_account_grid.html", context)
    return render(request, "accounts.html", context | toolbar_context(request, member))


def _row(request: Request, member: Member, ref: str) -> AccountMappingRow | None:
    state = ui_state(request)
    with state.database.session() as db:
        return account_mapping_row(db, member.workspace_id, ref)


def _render_row(
    request: Request,
    member: Member,
    ref: str,
    *,
    edit: bool = False,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    row = _row(request, member, ref)
    if row is None:
        return render(request, "not_found.html", {"member": member}, status_code=404)
    state = ui_state(request)
    with state.database.session() as db:
        target = mapping_target(db, member.workspace_id)
        invoices = (
            list(live_invoices_of(db, member.workspace_id, row.halo_client_id))
            if edit and row.halo_client_id is not None
            else []
        )
    return render(
        request,
        "_account_row.html",
        {
            "member": member,
            "row": row,
            "edit": edit,
            "error": error,
            "notice": notice,
            "target": target,
            "invoices": invoices,
            "response_error_text": RESPONSE_ERROR_TEXT,
            "overview": overview(state.database, member.workspace_id),
        },
    )


@router.get("/ui/w/{workspace_id}/accounts/row")
def account_row(
    request: Request,
    member: Annotated[Member, Depends(current_member)],
    ref: Annotated[str, Query()],
) -> Response:
    """One grid row as shown (the red ✗ cancels back to it)."""
    return _render_row(request, member, ref)


@router.get("/ui/w/{workspace_id}/accounts/edit")
def account_edit(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    ref: Annotated[str, Query()],
) -> Response:
    """One grid row in edit mode, with the Halo client picker."""
    return _render_row(request, member, ref, edit=True)


@router.get("/ui/w/{workspace_id}/halo-clients")
def halo_clients(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    q: Annotated[str, Query()] = "",
    ref: Annotated[str, Query()] = "",
) -> Response:
    """Unmapped Halo clients matching a name or an id, for the picker."""
    state = ui_state(request)
    with state.database.reading() as db:
        clients = [
            (client.halo_id, client.name, "Inactive" if client.inactive else "Active")
            for client in unmapped_halo_clients(db, member.workspace_id, search=q, limit=20)
        ]
    return render(request, "_client_options.html", {"clients": clients, "ref": ref})


@router.get("/ui/w/{workspace_id}/halo-clients/invoices")
def client_invoices(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    halo_client_id: Annotated[str, Query()] = "",
) -> Response:
    """The chosen client's recurring invoices (invoice_line target)."""
    state = ui_state(request)
    invoices: list[Any] = []
    client_id = whole_number(halo_client_id, minimum=1)
    if client_id is not None:
        with state.database.session() as db:
            invoices = list(live_invoices_of(db, member.workspace_id, client_id))
    return render(request, "_invoice_options.html", {"invoices": invoices})


@router.post("/ui/w/{workspace_id}/accounts/map")
def account_map(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    account_ref: Annotated[str, Form()],
    halo_client_id: Annotated[str, Form()] = "",
    recurring_invoice_id: Annotated[str, Form()] = "",
    client_id_search: Annotated[str, Form()] = "",
) -> Response:
    """The green ✓: save the row's mapping (the row shows why when it cannot)."""
    state = ui_state(request)
    if not halo_client_id.strip() and whole_number(client_id_search, minimum=1) is not None:
        # An ID typed in full is a pick by ID, even without choosing it from the list.
        halo_client_id = client_id_search.strip()
    client_id = whole_number(halo_client_id, minimum=1)
    if client_id is None:
        return _render_row(
            request,
            member,
            account_ref,
            edit=True,
            error="Pick a Halo client by name or by ID first.",
        )
    # Halo's recurring-invoice ids are negative.
    invoice = whole_number(recurring_invoice_id)
    try:
        mapped = map_account_and_follow_up(
            state.database,
            state.settings,
            get_job_queue(request),
            member.workspace_id,
            account_ref,
            client_id,
            recurring_invoice_id=invoice,
        )
    except HalosyncError as refused:
        return _render_row(
            request, member, account_ref, edit=True, error=refusal(refused).text_for("ui")
        )
    notice = mapped.follow_up.text if mapped.follow_up else None
    return _render_row(request, member, account_ref, notice=notice)


@router.post("/ui/w/{workspace_id}/accounts/unmap")
def account_unmap(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    account_ref: Annotated[str, Form()],
) -> Response:
    """The trash icon: remove the mapping (what was written in Halo stays)."""
    state = ui_state(request)
    try:
        with state.database.session() as db:
            unmap_account(db, member.workspace_id, account_ref)
    except HalosyncError as refused:
        return _render_row(request, member, account_ref, error=refusal(refused).text_for("ui"))
    return _render_row(request, member, account_ref)


@router.post("/ui/w/{workspace_id}/accounts/sync")
def account_sync(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    account_ref: Annotated[str, Form()],
) -> Response:
    """The row's sync icon: push this account's usage now."""
    row = _row(request, member, account_ref)
    if row is None or row.status != "mapped":
        web_session(request).flash(
            "error", "Unmapped organizations cannot have their subscriptions synced."
        )
        return redirect(request, workspace_url(member.workspace_id, "accounts"))
    return _request(
        request,
        member,
        "usage",
        account_ref,
        back=workspace_url(member.workspace_id, "accounts"),
    )


@router.post("/ui/w/{workspace_id}/accounts/suggest")
async def suggest(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Suggest Mappings pressed: see other, the page of suggestions (Post/Redirect/Get, so a
    reload or a bookmark of the page shows it again rather than answering 405)."""
    form = await request.form()
    back = _own_page(member, form.get("back"))
    query = f"?{urlencode({'back': back})}" if back else ""
    return redirect(request, workspace_url(member.workspace_id, "accounts/suggest") + query)


@router.get("/ui/w/{workspace_id}/accounts/suggest")
def suggestions(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    back: Annotated[str | None, Query()] = None,
) -> Response:
    """The suggestions: fuzzy-name matches with scores, to accept or leave."""
    state = ui_state(request)
    with state.database.reading() as db:
        found = suggest_account_mappings(db, member.workspace_id)
        none_because = None if found else why_no_suggestions(db, member.workspace_id).text_for("ui")
        # The clients a row may be changed to (any no account is mapped to yet).
        others = [
            (client.halo_id, client.name)
            for client in unmapped_halo_clients(db, member.workspace_id, limit=500)
        ]
    # Back to where Suggest was pressed: the wizard's step or the account mapping page.
    return render(
        request,
        "suggestions.html",
        {
            "member": member,
            "page": "accounts",
            "suggestions": found,
            "none_because": none_because,
            "clients": others,
            "back": _own_page(member, back) or workspace_url(member.workspace_id, "accounts"),
        },
    )


def _own_page(member: Member, candidate: object) -> str | None:
    """``candidate`` if it is a page of the member's workspace (never an open redirect)."""
    base = workspace_url(member.workspace_id)
    if not isinstance(candidate, str) or "//" in candidate or "\\" in candidate:
        return None
    return candidate if candidate == base or candidate.startswith(base + "/") else None


@router.post("/ui/w/{workspace_id}/accounts/suggest/accept")
async def accept(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Save the ticked rows as they read (nothing is suggested again); each that cannot be
    saved says why."""
    form = await request.form()
    return await run_in_threadpool(_accept, request, member, form)


def _accept(request: Request, member: Member, form: FormData) -> Response:
    state = ui_state(request)
    session = web_session(request)
    # Each ticked row: its account and the client it shows now, the suggested one or
    # another the admin picked in the row (a Halo client ID, or "ID — name").
    ticked: dict[str, str] = {
        str(form.get(f"ref-{index}", "")): str(form.get(f"client-{index}", "")).split(" ")[0]
        for index in form.getlist("accept")
    }
    chosen: list[ChosenMapping] = []
    for ref, client_text in ticked.items():
        client_id = whole_number(client_text, minimum=1)
        if client_id is None:
            session.flash(
                "error",
                f"{ref}: {client_text or 'no client'} is not a HaloPSA client ID; pick one "
                "from the list.",
            )
        else:
            chosen.append(ChosenMapping(ref, client_id))
    target = _own_page(member, form.get("back")) or workspace_url(member.workspace_id, "accounts")
    try:
        saved = save_chosen_and_follow_up(
            state.database, state.settings, get_job_queue(request), member.workspace_id, chosen
        )
    except HalosyncError as refused:
        session.flash("error", f"{refusal(refused).text_for('ui')} Nothing was saved.")
        return redirect(request, target)
    session.flash("success", f"Saved {saved.saved} of {len(ticked)} suggested mappings.")
    if saved.follow_up:
        session.flash("success", saved.follow_up.text)
    for outcome in saved.outcomes:
        if not outcome.saved:
            session.flash("error", f"{outcome.account_name}: {outcome.note_for('ui')}")
    return redirect(request, target)


@router.get("/ui/w/{workspace_id}/services")
def services(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The service mapping grid."""
    context = {"member": member, "page": "services", **service_context(request, member)}
    return render(request, "services.html", context)


@router.post("/ui/w/{workspace_id}/services/map")
def service_map(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    service_ref: Annotated[str, Form()],
    halo_item_id: Annotated[str, Form()] = "",
) -> Response:
    """Map a service to a Halo item (a blank choice removes the mapping)."""
    state = ui_state(request)
    session = web_session(request)
    try:
        with state.database.session() as db:
            item_id = whole_number(halo_item_id, minimum=1)
            if item_id is not None:
                map_service(db, member.workspace_id, service_ref, item_id)
                session.flash("success", f"Service {service_ref} mapped.")
            else:
                unmap_service(db, member.workspace_id, service_ref)
                session.flash("success", f"Service {service_ref} unmapped.")
    except HalosyncError as refused:
        session.flash("error", refusal(refused).text_for("ui"))
    back = request.headers.get("hx-current-url") or request.headers.get("referer") or ""
    wizard = "/setup/services" in back
    return redirect(
        request, workspace_url(member.workspace_id, "setup/services" if wizard else "services")
    )
