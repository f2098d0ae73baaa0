"""``halosync review list|approve|reject|policy``: changes held before they bill."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import (
    JsonOption,
    WorkspaceOption,
    cli_actor,
    open_database,
    resolve_workspace,
)
from halosync.domain.models import REVIEW_STATUSES, ReviewStatus
from halosync.domain.numbers import parse_integer
from halosync.domain.review import ReviewPolicy
from halosync.domain.terms import service_label
from halosync.errors import ValidationFailedError
from halosync.logging import redact_text
from halosync.store.crypto import SecretBox
from halosync.sync.approve import approve_and_write
from halosync.sync.review import (
    ReviewView,
    list_review,
    policy_dict,
    reject_review,
    review_policy,
    set_review_policy,
)

review_app = typer.Typer(
    help="Changes held for review before they reach HaloPSA: list, approve, reject, policy.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

IdsArgument = Annotated[
    list[int] | None, typer.Argument(help="Review item ids (see `halosync review list`).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every item waiting for review.")]


def _which(ids: list[int] | None, everything: bool) -> list[int] | None:
    if everything and ids:
        raise ValidationFailedError("Name review item ids or pass --all, not both.")
    if not everything and not ids:
        raise ValidationFailedError(
            "Name the review items to decide on.",
            fix="Pass their ids (see `halosync review list`) or --all.",
        )
    return None if everything else ids


def _print(items: list[ReviewView]) -> None:
    for item in items:
        term = f", term {item.term}" if item.term else ""
        echo(
            f"#{item.id:<5} {item.account_ref} ({item.account_name}), {item.service_ref} "
            f"({item.service_name}){term} · {item.halo_record}"
        )
        echo(f"       {item.change}")
        echo(f"       held because {item.why}")
        seen = item.first_seen_at.astimezone().strftime("%Y-%m-%d %H:%M")
        decided = ""
        if item.decided_at is not None:
            at = item.decided_at.astimezone().strftime("%Y-%m-%d %H:%M")
            decided = f"; {item.status} by {item.decided_by} at {at}"
        echo(f"       first seen {seen}{decided}")


@review_app.command("list")
def list_command(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    status: Annotated[
        str, typer.Option("--status", help="pending (default), approved, rejected or all.")
    ] = "pending",
    as_json: JsonOption = False,
) -> None:
    """The changes waiting for review (oldest first): account, service, HaloPSA record,
    before -> after, why held, first seen."""
    if status != "all" and status not in REVIEW_STATUSES:
        raise ValidationFailedError(
            f"--status {status!r} is not one of {', '.join(REVIEW_STATUSES)}, all."
        )
    wanted: ReviewStatus | None = None if status == "all" else status  # type: ignore[assignment]
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    items = list_review(database, ws.id, status=wanted)
    if as_json:
        emit_json({"workspace": ws.name, "items": [item.to_dict() for item in items]})
        return
    label = "waiting for review" if status == "pending" else status
    echo(f"Workspace {ws.name}: {len(items)} change(s) {label}.")
    _print(items)


@review_app.command("approve")
def approve_command(
    ctx: typer.Context,
    ids: IdsArgument = None,
    everything: AllOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve held changes and write them to HaloPSA now."""
    which = _which(ids, everything)
    database = open_database(ctx)
    settings = state(ctx).settings
    ws = resolve_workspace(database, workspace)
    report = asyncio.run(
        approve_and_write(
            database,
            SecretBox.from_settings(settings),
            settings,
            ws.id,
            which,
            actor=cli_actor(),
        )
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        echo(
            f"Approved {len(report.items)} change(s); written to HaloPSA: {len(report.written)}"
            + (f" (run {report.run_id})." if report.run_id else ".")
        )
        for result in report.others:
            service = service_label(result.service_ref, result.term)
            echo(f"  {result.account_ref}, {service}: {result.reason}")
    if report.error:
        sys.stderr.write(f"error: {redact_text(report.error)}\n")
        raise typer.Exit(1)


@review_app.command("reject")
def reject_command(
    ctx: typer.Context,
    ids: IdsArgument = None,
    everything: AllOption = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject held changes: HaloPSA stays as it is, and the same value is not asked again."""
    which = _which(ids, everything)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    items = reject_review(database, ws.id, which, actor=cli_actor())
    if as_json:
        emit_json({"rejected": [item.to_dict() for item in items]})
        return
    echo(f"Rejected {len(items)} change(s); HaloPSA was left as it is.")


def _limit(text: str | None, option: str) -> int | bool | None:
    """A threshold option: a whole number, ``off``, or None (left as it is -> False)."""
    if text is None:
        return False
    if text.strip().lower() == "off":
        return None
    value = parse_integer(text, minimum=0)
    if value is None:
        raise ValidationFailedError(f"{option} {text!r} is not a whole number >= 0 or 'off'.")
    return value


@review_app.command("policy")
def policy_command(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    change_above_units: Annotated[
        str | None,
        typer.Option("--change-above-units", help="Hold a change of more than N units, or off."),
    ] = None,
    change_above_percent: Annotated[
        str | None,
        typer.Option("--change-above-percent", help="Hold a change of more than P %, or off."),
    ] = None,
    new_above_units: Annotated[
        str | None,
        typer.Option("--new-above-units", help="Hold a new record above N units, or off."),
    ] = None,
    price_changes: Annotated[
        bool | None,
        typer.Option("--price-changes/--no-price-changes", help="Hold every price change."),
    ] = None,
    drop_to_zero: Annotated[
        bool | None,
        typer.Option("--drop-to-zero/--no-drop-to-zero", help="Hold every drop to 0."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the review policy, or change the rules given."""
    limits = {
        "change_above_units": _limit(change_above_units, "--change-above-units"),
        "change_above_percent": _limit(change_above_percent, "--change-above-percent"),
        "new_above_units": _limit(new_above_units, "--new-above-units"),
    }
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    current = review_policy(database, ws.id)
    policy = ReviewPolicy(
        change_above_units=_kept(limits["change_above_units"], current.change_above_units),
        change_above_percent=_kept(limits["change_above_percent"], current.change_above_percent),
        new_above_units=_kept(limits["new_above_units"], current.new_above_units),
        any_price_change=current.any_price_change if price_changes is None else price_changes,
        drop_to_zero=current.drop_to_zero if drop_to_zero is None else drop_to_zero,
    )
    if policy != current:
        policy = set_review_policy(database, ws.id, policy, actor=cli_actor())
    if as_json:
        emit_json({"workspace": ws.name, **policy_dict(policy)})
        return
    echo(f"Review policy of workspace {ws.name}:")
    echo(f"  change above units:   {_shown(policy.change_above_units)}")
    echo(f"  change above percent: {_shown(policy.change_above_percent)}")
    echo(f"  new above units:      {_shown(policy.new_above_units)}")
    echo(f"  any price change:     {'on' if policy.any_price_change else 'off'}")
    echo(f"  drop to zero:         {'on' if policy.drop_to_zero else 'off'}")


def _kept(given: int | bool | None, current: int | None) -> int | None:
    if given is False:
        return current
    return None if given is None or given is True else given


def _shown(limit: int | None) -> str:
    return "off" if limit is None else str(limit)
