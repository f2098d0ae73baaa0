"""Review: changes held before they bill; approve writes at once, reject remembers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from halosync.domain.review import ReviewPolicy
from halosync.domain.terms import service_label
from halosync.errors import HalosyncError
from halosync.sync.approve import approve_and_write
from halosync.sync.review import list_review, reject_review, review_policy, set_review_policy
from halosync.web.offload import off_the_loop
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

router = APIRouter(route_class=UiRoute)


def _actor(member: Member) -> str:
    return f"{member.viewer.name} <{member.viewer.email}>"


@router.get("/ui/w/{workspace_id}/review")
def review_page(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The queue: account, service, HaloPSA record, before → after, why held, first seen."""
    state = ui_state(request)
    decided = request.query_params.get("show") == "decided"
    items = list_review(state.database, member.workspace_id)
    history = (
        [
            item
            for item in list_review(state.database, member.workspace_id, status=None)
            if item.status != "pending"
        ]
        if decided
        else []
    )
    return render(
        request,
        "review.html",
        {
            "member": member,
            "page": "review",
            "items": items,
            "history": history,
            "decided": decided,
            "policy": review_policy(state.database, member.workspace_id),
        },
    )


async def _chosen(request: Request) -> list[int] | None:
    """The ticked items' ids, or None for "all" (the button named all)."""
    form = await request.form()
    if form.get("scope") == "all":
        return None
    ids = [whole_number(str(value), minimum=1) for value in form.getlist("item")]
    return [value for value in ids if value is not None]


@router.post("/ui/w/{workspace_id}/review/approve")
async def approve(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Approve the chosen changes and write them to HaloPSA now."""
    state = ui_state(request)
    session = web_session(request)
    back = workspace_url(member.workspace_id, "review")
    ids = await _chosen(request)
    if ids == []:
        session.flash("error", "Tick the changes to approve first.")
        return redirect(request, back)
    try:
        report = await off_the_loop(
            lambda: approve_and_write(
                state.database,
                state.box,
                state.settings,
                member.workspace_id,
                ids,
                actor=_actor(member),
            )
        )
    except HalosyncError as refused:
        session.flash("error", refusal(refused).message)
        return redirect(request, back)
    if report.error:
        session.flash("error", f"Approved {len(report.items)} change(s), but {report.error}")
        return redirect(request, back)
    text = (
        f"Approved {len(report.items)} change(s); {len(report.written)} written to HaloPSA"
        f" (run #{report.run_id})."
    )
    for other in report.others:
        text += f" {other.account_ref} / {service_label(other.service_ref, other.term)}: "
        text += f"{other.reason}."
    session.flash("success", text)
    return redirect(request, back)


@router.post("/ui/w/{workspace_id}/review/reject")
async def reject(request: Request, member: Annotated[Member, Depends(current_admin)]) -> Response:
    """Reject the chosen changes: HaloPSA stays as it is; the same value is not asked again."""
    state = ui_state(request)
    session = web_session(request)
    back = workspace_url(member.workspace_id, "review")
    ids = await _chosen(request)
    if ids == []:
        session.flash("error", "Tick the changes to reject first.")
        return redirect(request, back)
    try:
        items = await run_in_threadpool(
            reject_review, state.database, member.workspace_id, ids, actor=_actor(member)
        )
    except HalosyncError as refused:
        session.flash("error", refusal(refused).message)
        return redirect(request, back)
    session.flash("success", f"Rejected {len(items)} change(s); HaloPSA was left as it is.")
    return redirect(request, back)


def _limit(text: str | None) -> int | None:
    """A threshold field: blank turns the rule off."""
    if text is None or not text.strip():
        return None
    value = whole_number(text, minimum=0, maximum=1_000_000_000)
    if value is None:
        raise HalosyncError(f"{text!r} is not a whole number of 0 or more; leave it empty for off.")
    return value


@router.post("/ui/w/{workspace_id}/review/policy")
async def change_policy(
    request: Request, member: Annotated[Member, Depends(current_admin)]
) -> Response:
    """Save the review policy (applies from the next sync)."""
    state = ui_state(request)
    session = web_session(request)
    back = workspace_url(member.workspace_id, "review")
    form = await request.form()

    def text(name: str) -> str | None:
        value = form.get(name)
        return value if isinstance(value, str) else None

    try:
        policy = ReviewPolicy(
            change_above_units=_limit(text("change_above_units")),
            change_above_percent=_limit(text("change_above_percent")),
            new_above_units=_limit(text("new_above_units")),
            any_price_change=text("any_price_change") == "on",
            drop_to_zero=text("drop_to_zero") == "on",
        )
        await run_in_threadpool(
            set_review_policy, state.database, member.workspace_id, policy, actor=_actor(member)
        )
    except HalosyncError as refused:
        session.flash("error", f"The review policy was not changed: {refusal(refused).message}")
        return redirect(request, back)
    session.flash("success", "Review policy saved; it applies from the next sync.")
    return redirect(request, back)
