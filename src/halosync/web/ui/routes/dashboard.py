"""The integration dashboard: connection details, counts, syncs, price mode, target, reset."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from halosync.connection.service import ConnectionService, ConnectionView
from halosync.domain.schedule import Schedule
from halosync.errors import HalosyncError, NotFoundError
from halosync.jobs.schedules import get_schedules, parse_kind, set_schedule
from halosync.mapping.grid import mapping_counts
from halosync.sync.preferences import PreferencesChange, preference_problems, show_preferences
from halosync.sync.review import pending_count
from halosync.sync.workspace_settings import (
    SyncSettingsChange,
    pending_target_switch,
    show_sync_settings,
    update_sync_settings,
    validate_change,
)
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
from halosync.web.ui.launcher import overview, start_sync

router = APIRouter(route_class=UiRoute)
PRICE_UPDATED = "Sync price setting updated."
OTHER_TARGET = {"licence": "invoice_line", "invoice_line": "licence"}
SCHEDULE_LABELS = {
    "customers": "Organizations from HaloPSA",
    "usage": "Subscriptions to HaloPSA",
}


def connection_view(request: Request, workspace_name: str) -> ConnectionView | None:
    """The stored connection (secret masked), or None before one is set up."""
    state = ui_state(request)
    try:
        return ConnectionService(state.database, state.settings, box=state.box).show(workspace_name)
    except NotFoundError:
        return None


def dashboard_context(request: Request, member: Member) -> dict[str, Any]:
    """What the dashboard shows."""
    state = ui_state(request)
    sync_settings = show_sync_settings(state.database, member.workspace_id)
    with state.database.reading() as db:
        counts = mapping_counts(db, member.workspace_id)
        schedules = get_schedules(db, member.workspace_id)
        preferences = show_preferences(db, member.workspace_id)
        review_pending = pending_count(db, member.workspace_id)
    return {
        "preferences": preferences,
        "schedules": schedules,
        "schedule_labels": SCHEDULE_LABELS,
        "member": member,
        "page": "dashboard",
        "connection": connection_view(request, member.workspace.workspace_name),
        "counts": counts,
        "overview": overview(state.database, member.workspace_id),
        "sync_settings": sync_settings,
        "review_pending": review_pending,
        "target_switch": pending_target_switch(
            state.database,
            member.workspace_id,
            SyncSettingsChange(target=OTHER_TARGET[sync_settings.target]),
        ),
    }


@router.get("/ui/w/{workspace_id}")
def dashboard(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The integration dashboard (or the way into the setup wizard)."""
    return render(request, "dashboard.html", dashboard_context(request, member))


@router.get("/ui/w/{workspace_id}/sync-status")
def sync_status(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The sync panel alone, polled by htmx while a sync runs."""
    state = ui_state(request)
    return render(
        request,
        "_sync_panel.html",
        {"member": member, "overview": overview(state.database, member.workspace_id)},
    )


@router.post("/ui/w/{workspace_id}/connection/test")
def test_connection(
    request: Request, member: Annotated[Member, Depends(current_admin)]
) -> Response:
    """Test the stored connection; the answer replaces the test panel."""
    state = ui_state(request)
    service = ConnectionService(state.database, state.settings, box=state.box)
    try:
        outcome = asyncio.run(service.test(member.workspace.workspace_name))
    except HalosyncError as error:
        return render(
            request, "_test_result.html", {"success": False, "text": refusal(error).text_for("ui")}
        )
    view = connection_view(request, member.workspace.workspace_name)
    return render(
        request,
        "_test_result.html",
        {
            "success": outcome.success,
            "text": outcome.text(),
            "last_test": view.last_successful_test_at if view else None,
        },
    )


@router.post("/ui/w/{workspace_id}/sync-now")
def sync_now(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Sync Now: push usage for every account, unless a sync runs or the cooldown holds."""
    return _request(request, member, "usage", None, back=_back(request, member))


@router.post("/ui/w/{workspace_id}/sync-organizations")
def sync_organizations(
    request: Request, member: Annotated[Member, Depends(current_admin)]
) -> Response:
    """Sync Organizations: pull Halo clients, items and recurring invoices now."""
    return _request(request, member, "customers", None, back=_back(request, member))


def _back(request: Request, member: Member) -> str:
    referer = request.headers.get("referer", "")
    prefix = workspace_url(member.workspace_id)
    path = referer.split("://", 1)[-1].partition("/")[2]
    return f"/{path}" if f"/{path}".startswith(prefix) else prefix


def _request(
    request: Request, member: Member, kind: str, account_ref: str | None, *, back: str
) -> Response:
    state = ui_state(request)
    session = web_session(request)
    try:
        start_sync(
            request,
            state.database,
            member.workspace_id,
            kind="customers" if kind == "customers" else "usage",
            account_ref=account_ref,
        )
    except HalosyncError as refused:
        session.flash("error", refusal(refused).message)
        return redirect(request, back)
    what = {
        "customers": "Sync Organizations started.",
        "usage": f"Subscriptions sync started for {account_ref}."
        if account_ref
        else "Sync started for all accounts.",
    }[kind]
    session.flash("success", what)
    return redirect(request, back)


@router.post("/ui/w/{workspace_id}/settings/prices")
def change_prices(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    price_mode: Annotated[str, Form()],
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Change the price mode once the confirmation dialog was accepted."""
    state = ui_state(request)
    session = web_session(request)
    try:
        update_sync_settings(
            state.database,
            member.workspace_id,
            SyncSettingsChange(price_mode=price_mode),
            confirmed=confirmed == "yes",
        )
    except HalosyncError as refused:
        session.flash("error", refusal(refused).message)
    else:
        session.flash("success", PRICE_UPDATED)
    return redirect(request, workspace_url(member.workspace_id))


@router.post("/ui/w/{workspace_id}/settings/target")
def change_target(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    target: Annotated[str, Form()],
    lines_choice: Annotated[str, Form()] = "",
    only_own_lines: Annotated[str, Form()] = "",
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    """Choose where counts land in Halo (licence or invoice_line), and for invoice lines
    whether the existing line of a mapped item is taken over ("only lines halosync adds").
    Once records were written under the current target, the dialog said what happens to
    them and was confirmed."""
    state = ui_state(request)
    session = web_session(request)
    adopt = only_own_lines != "yes" if lines_choice == "shown" else None
    try:
        view = update_sync_settings(
            state.database,
            member.workspace_id,
            SyncSettingsChange(target=target, adopt_existing_lines=adopt),
            confirmed=confirmed == "yes",
        )
    except HalosyncError as refused:
        session.flash("error", refusal(refused).message)
    else:
        session.flash(
            "success",
            f"Target set to {view.target}. Test the connection again: the permissions "
            "it needs differ.",
        )
    return redirect(request, workspace_url(member.workspace_id))


@router.post("/ui/w/{workspace_id}/reset")
def reset(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Reset Integration: drop the connection, mappings and cached Halo records."""
    state = ui_state(request)
    summary = ConnectionService(state.database, state.settings, box=state.box).reset(
        member.workspace.workspace_name
    )
    web_session(request).flash(
        "success",
        f"Integration reset: {summary.account_mappings_removed} account and "
        f"{summary.service_mappings_removed} service mappings removed. The ledger and the "
        "logs are kept.",
    )
    return redirect(request, workspace_url(member.workspace_id, "setup/connect"))


@router.post("/ui/w/{workspace_id}/settings/schedule")
def change_schedule(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    kind: Annotated[str, Form()],
    frequency: Annotated[str, Form()] = "daily",
    day: Annotated[str, Form()] = "1",
    at: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "",
) -> Response:
    """Daily at a time, or monthly on day N (or the last day), in UTC; or switched off."""
    state = ui_state(request)
    session = web_session(request)
    text = f"daily {at}" if frequency == "daily" else f"monthly {day} {at}"
    try:
        sync_kind = parse_kind(kind)
        schedule = Schedule.parse(text)
        with state.database.session() as db:
            saved = set_schedule(
                db, member.workspace_id, sync_kind, schedule, enabled=enabled == "yes"
            )
    except HalosyncError as refused:
        session.flash("error", "Schedule not changed: " + refusal(refused).text_for("ui"))
    else:
        state_text = saved.schedule.describe() if saved.enabled else "off"
        session.flash("success", f"{SCHEDULE_LABELS[sync_kind]}: {state_text}.")
    return redirect(request, workspace_url(member.workspace_id))


@router.post("/ui/w/{workspace_id}/settings/preferences")
def change_preferences(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    notify_email: Annotated[str, Form()] = "",
    notify_on_success: Annotated[str, Form()] = "",
    notify_on_failure: Annotated[str, Form()] = "",
    log_retention_days: Annotated[str, Form()] = "30",
    cooldown_minutes: Annotated[str, Form()] = "60",
) -> Response:
    """E-mail opt-ins, log retention and the Sync Now cooldown; all checked before any is saved."""
    state = ui_state(request)
    session = web_session(request)
    problems: list[str] = []
    numbers: dict[str, int] = {}
    for name, text in (("log retention days", log_retention_days), ("cooldown", cooldown_minutes)):
        number = whole_number(text, minimum=0)
        if number is not None:
            numbers[name] = number
        else:
            problems.append(f"{name} {text!r} is not a whole number")
    email = notify_email.strip()
    change = PreferencesChange(
        log_retention_days=numbers.get("log retention days"),
        notify_email=email or None,
        clear_email=not email,
        notify_on_success=notify_on_success == "yes",
        notify_on_failure=notify_on_failure == "yes",
    )
    problems += [f"{field} {what}" for field, what in preference_problems(change)]
    cooldown = SyncSettingsChange(cooldown_minutes=numbers.get("cooldown"))
    try:
        validate_change(cooldown)
    except HalosyncError as refused:
        problems.append(refusal(refused).message)
    if problems:
        session.flash("error", "Settings not changed: " + "; ".join(problems) + ".")
        return redirect(request, workspace_url(member.workspace_id))
    update_sync_settings(
        state.database, member.workspace_id, cooldown, confirmed=True, preferences=change
    )
    session.flash("success", "Notification and log settings saved.")
    return redirect(request, workspace_url(member.workspace_id))
