"""Dry-run preview and Apply, results, Logs & Monitoring, reconciliation, import."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import tempfile
from pathlib import Path
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Request, UploadFile
from starlette.responses import Response

from halosync.domain.reconcile import ReconcileSummary, RowStatus, csv_rows
from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.sources.apply import several_terms_text
from halosync.sources.errors import ImportValidationError
from halosync.sources.upload import import_upload
from halosync.sync.activity import list_log_entries, parse_level
from halosync.sync.reconcile import build_reconciliation
from halosync.sync.runs import RunView, get_run, list_runs, run_results
from halosync.sync.usage import run_usage_sync
from halosync.users.permissions import Action, PermissionDeniedError, require_permission
from halosync.web.ui.context import (
    Member,
    UiRoute,
    current_admin,
    current_dry_runner,
    current_member,
    member_who_may,
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
from halosync.web.uploads import several_files_sent

router = APIRouter(route_class=UiRoute)
LOG_PAGE_SIZES = (10, 20, 50, 100)
RESULT_PAGE_SIZES = (20, 50, 100, 500)
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
RECENT_RUNS = 5
PREVIEW_ROWS = 500
"""Planned changes the dry run page draws; the rest are on the results page, page by page
(20,000 accounts planned 47,719: one page of them was 9 MB of text)."""
_WRITES_FIRST = {"fail": 0, "create": 1, "update": 2, "unchanged": 3, "skip": 4}
RECONCILE_ROWS = 500
"""Reconciliation rows the page draws, the most urgent first; the CSV has every row (20,000
accounts made 47,719: one page of them was 7.7 MB of text)."""
_URGENCY = {status: rank for rank, status in enumerate(get_args(RowStatus))}


@router.get("/ui/w/{workspace_id}/preview")
def preview_page(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The dry-run page before a preview is made."""
    return render(request, "preview.html", {"member": member, "page": "preview", "report": None})


@router.post("/ui/w/{workspace_id}/preview")
def preview(request: Request, member: Annotated[Member, Depends(current_dry_runner)]) -> Response:
    """Dry run: every write a sync would make, before → after, without writing."""
    state = ui_state(request)
    try:
        report = asyncio.run(
            run_usage_sync(
                state.database, state.box, state.settings, member.workspace_id, dry_run=True
            )
        )
    except HalosyncError as refused:
        web_session(request).flash("error", refusal(refused).text_for("ui"))
        return redirect(request, workspace_url(member.workspace_id, "preview"))
    # What would write (or fail) first: at thousands of accounts most rows are skips.
    ordered = sorted(report.changes, key=lambda change: _WRITES_FIRST.get(change.action, 5))
    return render(
        request,
        "preview.html",
        {
            "member": member,
            "page": "preview",
            "report": report,
            "changes": ordered[:PREVIEW_ROWS],
            "more": max(0, len(ordered) - PREVIEW_ROWS),
            "overview": overview(state.database, member.workspace_id),
        },
    )


@router.post("/ui/w/{workspace_id}/preview/apply")
def apply(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Apply: run the sync for real (Sync Now's rules hold), then show its results."""
    return _request(
        request, member, "usage", None, back=workspace_url(member.workspace_id, "results")
    )


@router.get("/ui/w/{workspace_id}/results")
def results(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """Per account × service outcome of the latest runs, or of the run asked for by id."""
    state = ui_state(request)
    chosen = whole_number(request.query_params.get("run", ""), minimum=1)
    only = request.query_params.get("action") or None
    size = whole_number(request.query_params.get("size", "50"))
    page_size = size if size in RESULT_PAGE_SIZES else 50
    page = whole_number(request.query_params.get("page", "1"), minimum=1) or 1
    run: RunView | None = None
    with state.database.reading() as db:
        runs = list_runs(
            db, member.workspace_id, kind="usage", include_dry_runs=False, page_size=RECENT_RUNS
        ).items
        if chosen is None:
            run = runs[0] if runs else None
        else:
            with contextlib.suppress(NotFoundError):
                run = get_run(db, member.workspace_id, chosen)
        listing = (
            run_results(
                db,
                member.workspace_id,
                run.id,
                action=only,
                by_name=True,
                page=page,
                page_size=page_size,
            )
            if run is not None
            else None
        )
    total = listing.total if listing is not None else 0
    pages = max(1, -(-total // page_size))
    if run is not None and page > pages:  # past the end (a filter shrank the list)
        with state.database.reading() as db:
            listing = run_results(
                db,
                member.workspace_id,
                run.id,
                action=only,
                by_name=True,
                page=pages,
                page_size=page_size,
            )
    lines = listing.items if listing is not None else []
    first = (listing.page - 1) * page_size + 1 if listing is not None and lines else 0
    if run is not None and all(listed.id != run.id for listed in runs):
        # An older run (a link from an e-mail) is found by its id, then listed with the rest.
        runs = sorted([*runs, run], key=lambda listed: listed.id, reverse=True)
    return render(
        request,
        "results.html",
        {
            "member": member,
            "page": "results",
            "runs": runs,
            "run": run,
            "run_id": run.id if run is not None else chosen,
            "action": only or "",
            "lines": lines,
            "result_page": listing.page if listing is not None else 1,
            "result_pages": pages,
            "result_range": f"{first} – {first + len(lines) - 1} of {total}"
            if lines
            else f"0 of {total}",
            "page_size": page_size,
            "page_sizes": RESULT_PAGE_SIZES,
            "overview": overview(state.database, member.workspace_id),
        },
    )


@router.get("/ui/w/{workspace_id}/logs")
def logs(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """Logs & Monitoring: four tiles, level filter, paging."""
    state = ui_state(request)
    params = request.query_params
    try:
        level = parse_level(params.get("level"))
    except ValidationFailedError:  # an unknown level in the URL shows every level
        level = None
    size_text = params.get("size", "20")
    size = whole_number(size_text)
    page_size = size if size in LOG_PAGE_SIZES else 20
    page = whole_number(params.get("page", "1"), minimum=1, maximum=1_000_000) or 1
    # ?run=N (the link in a sync's e-mail) shows that run's entries only.
    run_id = whole_number(params.get("run"), minimum=1)
    overall = list_log_entries(state.database, member.workspace_id, page_size=1)
    listing = list_log_entries(
        state.database,
        member.workspace_id,
        level=level,
        run_id=run_id,
        page=page,
        page_size=page_size,
    )
    pages = max(1, -(-listing.total // page_size))
    if page > pages:
        listing = list_log_entries(
            state.database,
            member.workspace_id,
            level=level,
            run_id=run_id,
            page=pages,
            page_size=page_size,
        )
    context = {
        "member": member,
        "page": "logs",
        "overall": overall,
        "last_update": overall.entries[0].created_at if overall.entries else None,
        "listing": listing,
        "level": (level or "ALL").lower(),
        "page_size": page_size,
        "page_sizes": LOG_PAGE_SIZES,
        "pages": pages,
        "run_id": run_id,
    }
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "logs":
        return render(request, "_logs_body.html", context)
    return render(request, "logs.html", context)


@router.get("/ui/w/{workspace_id}/reconcile")
def reconcile(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """Vendor count vs. ledger vs. what Halo holds now; drift highlighted.

    Admins only (the API's rule): the page reads HaloPSA live. A viewer gets the page
    saying so, with the 403 the API gives, rather than a bare error page."""
    state = ui_state(request)
    error = None
    status = 200
    rows = []
    try:
        require_permission(
            member.workspace.role, Action.RECONCILE, holder="Your account in this workspace"
        )
        rows = asyncio.run(
            build_reconciliation(state.database, state.box, state.settings, member.workspace_id)
        )
    except PermissionDeniedError as denied:
        error, status = denied.message, 403
    except HalosyncError as failure:
        error = refusal(failure).text_for("ui")
    only_drift = request.query_params.get("drift") == "1"
    calm = ("in_step", "skipped", "excluded")  # deliberate: no attention needed
    shown = [row for row in rows if row.status not in calm] if only_drift else rows
    # What needs attention first (RowStatus lists the most urgent first), in report order.
    shown = sorted(shown, key=lambda row: _URGENCY[row.status])
    return render(
        request,
        "reconcile.html",
        {
            "member": member,
            "page": "reconcile",
            "rows": shown[:RECONCILE_ROWS],
            "more": max(0, len(shown) - RECONCILE_ROWS),
            "summary": ReconcileSummary.of(rows),
            "only_drift": only_drift,
            "error": error,
        },
        status_code=status,
    )


@router.get("/ui/w/{workspace_id}/reconcile.csv")
def reconcile_csv(
    request: Request, member: Annotated[Member, Depends(member_who_may(Action.RECONCILE))]
) -> Response:
    """The reconciliation report as CSV (formula-like cells defused)."""
    state = ui_state(request)
    rows = asyncio.run(
        build_reconciliation(state.database, state.box, state.settings, member.workspace_id)
    )
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(rows))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="reconciliation.csv"'},
    )


@router.get("/ui/w/{workspace_id}/import")
def import_page(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The upload form."""
    return render(request, "import.html", {"member": member, "page": "import"})


@router.post("/ui/w/{workspace_id}/import")
def upload(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    file: UploadFile,
    several: Annotated[str | None, Depends(several_files_sent)],
) -> Response:
    """Import a CSV or JSON file with the CLI's validation; any bad row changes nothing."""
    state = ui_state(request)
    context: dict[str, object] = {"member": member, "page": "import"}
    if several is not None:
        context["error"] = f"{several}; nothing was changed."
        return render(request, "import.html", context, status_code=422)
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in (".csv", ".json"):
        context["error"] = (
            f"{file.filename or 'The file'} is not a .csv or .json file; nothing was changed."
        )
        return render(request, "import.html", context, status_code=422)
    with tempfile.TemporaryDirectory(prefix="halosync-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        size = 0
        with path.open("wb") as handle:
            while chunk := file.file.read(1024 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    context["error"] = "The file is larger than 50 MB; use the CLI import."
                    return render(request, "import.html", context, status_code=413)
                handle.write(chunk)
        try:
            report = import_upload(state.database, member.workspace_id, path)
        except ImportValidationError as invalid:
            context["error"] = invalid.summary
            context["errors"] = [str(error) for error in invalid.errors[:200]]
            context["more"] = max(0, invalid.total - 200)
            return render(request, "import.html", context, status_code=422)
        except HalosyncError as refused:
            context["error"] = refusal(refused).text_for("ui")
            return render(request, "import.html", context, status_code=422)
    context["report"] = report
    context["several_terms_text"] = several_terms_text
    context["filename"] = file.filename
    return render(request, "import.html", context)
