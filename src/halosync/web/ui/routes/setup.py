"""The setup wizard: Connect → Test → Account mapping → Service mapping → Summary → Finish.

"Next" is checked on the server: a step whose rule does not hold sends the user back to
it with the reason, whatever the browser did with the disabled button.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from halosync.connection.service import ConnectionInput, ConnectionService, SecretRequiredError
from halosync.domain.planner import SEVERAL_LINES_NOTE, TAKE_OVER_NOTE
from halosync.errors import HalosyncError
from halosync.mapping.grid import mapping_counts
from halosync.setup.service import SetupNotReadyError, finish_setup, setup_readiness
from halosync.sync.usage import run_usage_sync
from halosync.sync.workspace_settings import show_sync_settings
from halosync.web.ui.context import (
    Member,
    UiRoute,
    current_admin,
    current_dry_runner,
    current_member,
    redirect,
    refusal,
    render,
    ui_state,
    web_session,
    workspace_url,
)
from halosync.web.ui.routes.dashboard import connection_view
from halosync.web.ui.routes.mapping import grid_context, service_context, toolbar_context

router = APIRouter(route_class=UiRoute)
STEPS: tuple[tuple[str, str], ...] = (
    ("connect", "Connect"),
    ("test", "Test"),
    ("accounts", "Account mapping"),
    ("services", "Service mapping"),
    ("summary", "Summary"),
)
_STEP_NAMES = [name for name, _ in STEPS]


def step_problem(request: Request, member: Member, step: str) -> str | None:
    """Why "Next" is not allowed on ``step`` yet; None when its rule holds."""
    with ui_state(request).database.reading() as db:
        return setup_readiness(db, member.workspace_id).problem_of(step)


def _context(request: Request, member: Member, step: str) -> dict[str, Any]:
    return {
        "member": member,
        "page": "setup",
        "steps": STEPS,
        "step": step,
        "step_index": _STEP_NAMES.index(step),
        "problem": step_problem(request, member, step),
    }


@router.get("/ui/w/{workspace_id}/setup")
def setup_start(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """Open the wizard at its first step."""
    return redirect(request, workspace_url(member.workspace_id, "setup/connect"))


@router.get("/ui/w/{workspace_id}/setup/{step}")
def setup_step(
    request: Request, step: str, member: Annotated[Member, Depends(current_member)]
) -> Response:
    """One wizard step."""
    if step not in _STEP_NAMES:
        return render(request, "not_found.html", {"member": member}, status_code=404)
    state = ui_state(request)
    context = _context(request, member, step)
    context["connection"] = connection_view(request, member.workspace.workspace_name)
    if step == "accounts":
        context.update(grid_context(request, member) | toolbar_context(request, member))
    elif step == "services":
        context.update(service_context(request, member))
    elif step == "summary":
        with state.database.reading() as db:
            counts = mapping_counts(db, member.workspace_id)
        context["counts"] = counts
        target = show_sync_settings(state.database, member.workspace_id).target
        context["first_sync_lines"] = (
            target == "invoice_line" and counts.accounts_mapped and counts.services_mapped
        )
    return render(request, "setup.html", context)


@dataclass(frozen=True)
class FirstSyncLines:
    """What the first sync does to lines already on the mapped recurring invoices."""

    take_over: list[str]
    attention: list[str]
    error: str | None = None


@router.post("/ui/w/{workspace_id}/setup/summary/lines")
def first_sync_lines(
    request: Request, member: Annotated[Member, Depends(current_dry_runner)]
) -> Response:
    """The summary's part on existing lines (loaded into it): a dry run, so it says plainly
    which lines the first sync takes over ("will take over line 24002 (M365 Business
    Premium, qty 10 → 12)") and which items have several lines (nothing written for those).

    A POST for whoever may make a dry run, as the preview: it reads HaloPSA with the
    workspace's credentials and records a run, so neither a viewer nor another site (a
    link or an image) may start one."""
    state = ui_state(request)
    try:
        report = asyncio.run(
            run_usage_sync(
                state.database, state.box, state.settings, member.workspace_id, dry_run=True
            )
        )
    except HalosyncError as refused:
        found = FirstSyncLines([], [], error=refusal(refused).message)
    else:
        found = FirstSyncLines(
            take_over=[
                f"{c.account_ref} / {c.service_ref}: {c.reason.split(';')[0]}"
                for c in report.changes
                if c.reason.startswith(TAKE_OVER_NOTE)
            ],
            attention=[
                f"{c.account_ref} / {c.service_ref}: {c.reason.split(';')[0]}"
                for c in report.changes
                if SEVERAL_LINES_NOTE in c.reason
            ],
            error=report.error,
        )
    return render(request, "_first_sync_lines.html", {"member": member, "first_sync": found})


@router.post("/ui/w/{workspace_id}/setup/{step}/next")
def setup_next(
    request: Request, step: str, member: Annotated[Member, Depends(current_member)]
) -> Response:
    """Move on when the step's rule holds; otherwise back to it with the reason."""
    if step not in _STEP_NAMES:
        return redirect(request, workspace_url(member.workspace_id, "setup/connect"))
    problem = step_problem(request, member, step)
    if problem:
        web_session(request).flash("error", problem)
        return redirect(request, workspace_url(member.workspace_id, f"setup/{step}"))
    index = _STEP_NAMES.index(step)
    following = _STEP_NAMES[min(index + 1, len(_STEP_NAMES) - 1)]
    return redirect(request, workspace_url(member.workspace_id, f"setup/{following}"))


@router.post("/ui/w/{workspace_id}/setup/finish")
def setup_finish(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Finish setup: every step's rule must hold; automatic syncs start from now on."""
    try:
        with ui_state(request).database.session() as db:
            finish_setup(db, member.workspace_id)
    except SetupNotReadyError as blocked:
        web_session(request).flash("error", blocked.problem.message)
        step = blocked.problem.step
        return redirect(request, workspace_url(member.workspace_id, f"setup/{step}"))
    web_session(request).flash("success", "Setup finished. Usage now syncs on schedule.")
    return redirect(request, workspace_url(member.workspace_id))


@dataclass(frozen=True)
class ConnectionForm:
    """The connection form as typed (the secret is never echoed back)."""

    server_url: str
    auth_server_url: str
    tenant: str
    client_id: str
    client_secret: str
    target: str

    def to_input(self) -> ConnectionInput:
        """The form as a connection input (a blank secret: see ``secret_to_use``)."""
        return ConnectionInput(
            server_url=self.server_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_server_url=self.auth_server_url or None,
            tenant=self.tenant or None,
            target=self.target or None,
        )

    def echo(self) -> dict[str, str]:
        """The fields to show again when the form is refused."""
        return {
            "server_url": self.server_url,
            "auth_server_url": self.auth_server_url,
            "tenant": self.tenant,
            "client_id": self.client_id,
            "target": self.target,
        }


def connection_form(
    server_url: Annotated[str, Form()] = "",
    auth_server_url: Annotated[str, Form()] = "",
    tenant: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "licence",
) -> ConnectionForm:
    """The connection form's fields (a FastAPI dependency shared by Save and Test)."""
    return ConnectionForm(server_url, auth_server_url, tenant, client_id, client_secret, target)


@router.post("/ui/w/{workspace_id}/setup/connect")
def save_connection(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    form: Annotated[ConnectionForm, Depends(connection_form)],
) -> Response:
    """Save Settings: test, then store; a failing configuration stores nothing."""
    state = ui_state(request)
    service = ConnectionService(state.database, state.settings, box=state.box)
    try:
        asyncio.run(service.save(member.workspace.workspace_name, form.to_input()))
    except HalosyncError as refused:
        return _refused_connection(request, member, form, refusal(refused))
    web_session(request).flash("success", "Connection saved. Test is successful.")
    return redirect(request, workspace_url(member.workspace_id, "setup/test"))


def _refused_connection(
    request: Request, member: Member, form: ConnectionForm, refused: HalosyncError
) -> Response:
    """The Connect step again, with the form as typed and why it was refused."""
    context = _context(request, member, "connect")
    context["connection"] = connection_view(request, member.workspace.workspace_name)
    context["form"] = form.echo()
    if isinstance(refused, SecretRequiredError):
        context["field_errors"] = {refused.field: refused.text_for("ui")}
    else:
        context["save_error"] = refused.message
        context["save_cause"] = refused.fix_for("ui")
    return render(request, "setup.html", context, status_code=422)


@router.post("/ui/w/{workspace_id}/setup/test-input")
def try_connection(
    request: Request,
    member: Annotated[Member, Depends(current_admin)],
    form: Annotated[ConnectionForm, Depends(connection_form)],
) -> Response:
    """Test Connection on the form's values without saving them."""
    state = ui_state(request)
    service = ConnectionService(state.database, state.settings, box=state.box)
    target = form.target if form.target in ("licence", "invoice_line") else "licence"
    try:
        outcome = asyncio.run(
            service.test_entered(member.workspace.workspace_name, form.to_input(), target)
        )
    except SecretRequiredError as refused:
        return render(
            request,
            "_test_result.html",
            {
                "success": False,
                "text": refused.text_for("ui"),
                "field_errors": {refused.field: refused.text_for("ui")},
            },
        )
    return render(
        request,
        "_test_result.html",
        # An empty field error clears one a previous test left next to the secret field.
        {"success": outcome.success, "text": outcome.text(), "field_errors": {"client_secret": ""}},
    )
