"""``halosync rules list|set|clear|exclude|include|show|history``: the quantity rules.

A rule is set at a scope named by the options: neither ``--account`` nor ``--service`` is
the workspace's default, ``--service`` one service, ``--account`` one account (exclusions
only), both one account × service. Changes apply from today (or ``--from``, a later day)
and never rewrite the past; see ``docs/sync-rules.md``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial
from typing import Annotated, Any

import typer

from halosync.cli.app import app, echo, emit_json
from halosync.cli.common import (
    JsonOption,
    WorkspaceOption,
    cli_actor,
    open_database,
    resolve_workspace,
)
from halosync.domain.numbers import parse_decimal, parse_integer
from halosync.domain.rules import (
    PRICE_OWNERS,
    ROUNDINGS,
    RULE_FIELDS,
    TERMS_CHOICES,
    TERMS_PICKS,
    scope_label,
)
from halosync.errors import ValidationFailedError
from halosync.rules.service import (
    Change,
    RuleChange,
    RuleProblemsError,
    RuleTarget,
    RuleView,
    clear_rule,
    effective_dict,
    effective_rule,
    exclude,
    include,
    list_rules,
    rule_dict,
    rule_history,
    rule_text,
    update_rule,
)

rules_app = typer.Typer(
    help="Quantity rules: minimum, free, ceiling, rounding, terms, prices, exclusions.",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")

NONE_WORDS = ("none", "off")
"""What unsets a field in ``rules set`` (the wider scope's value applies again)."""

AccountOption = Annotated[
    str | None,
    typer.Option("--account", help="An account's reference (with --service: that pair only)."),
]
ServiceOption = Annotated[str | None, typer.Option("--service", help="A service's reference.")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="The day (YYYY-MM-DD, UTC) the change applies from: today (the default) or later.",
    ),
]
DateOption = Annotated[
    str | None, typer.Option("--date", help="The day (YYYY-MM-DD) to show; today by default.")
]


_FLAGS = {"valid_from": "--from", "excluded": "--reason"}


def _flag(name: str) -> str:
    """The option that sets a rule's field (``valid_from`` is ``--from``)."""
    return _FLAGS.get(name) or "--" + name.replace("_", "-")


def _in_flags(error: RuleProblemsError) -> ValidationFailedError:
    """The service's refusal said with this command's flags."""
    parts = [
        f"{_flag(name)}: {why.replace(f'{name}: ', '')}" if name else why
        for name, why in error.problems
    ]
    return ValidationFailedError(
        f"Invalid rule for the {error.target.label()}: " + "; ".join(parts) + ". Nothing was "
        "changed."
    )


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailedError(f"{flag} {text!r} is not a date (YYYY-MM-DD).") from None


def _target(account: str | None, service: str | None) -> RuleTarget:
    for flag, value in (("--account", account), ("--service", service)):
        if value is not None and not value.strip():
            raise ValidationFailedError(f"{flag} is empty; give a reference or leave it out.")
    return RuleTarget(account, service)


def _count(text: str, flag: str) -> int | None:
    if text.strip().lower() in NONE_WORDS:
        return None
    value = parse_integer(text)
    if value is None:
        raise ValidationFailedError(f"{flag} {text!r} is not a whole number (or 'none').")
    return value


def _amount(text: str, flag: str) -> Decimal | None:
    if text.strip().lower() in NONE_WORDS:
        return None
    value = parse_decimal(text)
    if value is None:
        raise ValidationFailedError(f"{flag} {text!r} is not a number (or 'none').")
    return value


def _word(text: str, flag: str, allowed: tuple[str, ...]) -> str | None:
    word = text.strip().lower()
    if word in NONE_WORDS:
        return None
    if word not in allowed:
        raise ValidationFailedError(
            f"{flag} {text!r} is not one of {', '.join(allowed)} (or 'none')."
        )
    return word


def _write(
    ctx: typer.Context,
    workspace: str | None,
    valid_from: str | None,
    as_json: bool,
    target: RuleTarget,
    change: Change,
) -> None:
    """Run one change of the rules service at ``target`` with this invocation's database,
    workspace and ``--from`` day; its refusal is said with the flags, its outcome printed."""
    day = _day(valid_from, "--from")
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    try:
        done = change(database, ws.id, target, valid_from=day, actor=cli_actor())
    except RuleProblemsError as error:
        raise _in_flags(error) from None
    _changed(as_json, done)


def _changed(as_json: bool, change: RuleChange) -> None:
    for warning in change.warnings:
        echo(f"Warning: {warning}.", err=True)
    if as_json:
        emit_json(change.to_dict())
        return
    where = change.target.label()
    if not change.changed:
        echo(f"No change: the {where}'s rule from {change.valid_from} is already that.")
        return
    echo(
        f"Rule of the {where} from {change.valid_from.isoformat()}: {rule_text(change.after)} "
        "(applies from the next sync on or after that day)."
    )
    for view in change.carried:
        echo(
            f"  also applied to the version from {view.valid_from.isoformat()}: "
            f"{rule_text(view.rule)}"
        )
    if change.still_excluded is not None:
        echo(
            f"Still not billed: {change.still_excluded}. To bill it anyway: halosync rules "
            f"include --account {change.target.account_ref} --service "
            f"{change.target.service_ref} --override"
        )


def _print(views: list[RuleView]) -> None:
    for view in views:
        names = ""
        if view.account_name or view.service_name:
            names = " (" + ", ".join(n for n in (view.account_name, view.service_name) if n) + ")"
        echo(f"  {view.target.label()}{names}: {rule_text(view.rule)}")
        echo(
            f"      from {view.valid_from.isoformat()}, by {view.created_by} "
            f"at {view.created_at.astimezone().strftime('%Y-%m-%d %H:%M')}"
        )


@rules_app.command("list")
def list_command(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """The rules in force (today, or on --date): the workspace's, then each service's,
    account's and account × service's."""
    day = _day(on, "--date")
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    views = list_rules(database, ws.id, on_date=day)
    if as_json:
        emit_json({"workspace": ws.name, "rules": [view.to_dict() for view in views]})
        return
    when = f" on {day.isoformat()}" if day else ""
    echo(f"Workspace {ws.name}: {len(views)} rule(s) in force{when}.")
    _print(views)


@rules_app.command("set")
def set_command(
    ctx: typer.Context,
    account: AccountOption = None,
    service: ServiceOption = None,
    minimum: Annotated[
        str | None, typer.Option("--minimum", help="Bill at least N (or none).")
    ] = None,
    free: Annotated[
        str | None, typer.Option("--free", help="The first N are not billed (or none).")
    ] = None,
    ceiling: Annotated[
        str | None,
        typer.Option("--ceiling", help="More than N waits for review (or none)."),
    ] = None,
    rounding: Annotated[
        str | None,
        typer.Option("--rounding", help="Fractional counts: up, down, nearest (or none)."),
    ] = None,
    multiple: Annotated[
        str | None,
        typer.Option("--multiple", help="Round to a multiple of N, e.g. packs of 5 (or none)."),
    ] = None,
    terms: Annotated[
        str | None,
        typer.Option("--terms", help="Several terms of one pair: sum, apart, pick (or none)."),
    ] = None,
    terms_pick: Annotated[
        str | None,
        typer.Option("--terms-pick", help="With --terms pick: longest, shortest, largest."),
    ] = None,
    price_owner: Annotated[
        str | None,
        typer.Option("--price-owner", help="Who owns prices: halosync, halo, markup (or none)."),
    ] = None,
    markup_percent: Annotated[
        str | None,
        typer.Option("--markup-percent", help="With markup: sell = cost + P % (or none)."),
    ] = None,
    fixed_price: Annotated[
        str | None,
        typer.Option("--fixed-price", help="With markup: sell at this per unit (or none)."),
    ] = None,
    included: Annotated[
        str | None,
        typer.Option(
            "--included",
            help="yes: billed over a broader exclusion (as include --override); none ends it.",
        ),
    ] = None,
    valid_from: FromOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the fields given of a scope's rule (the others stay; 'none' unsets one)."""
    target = _target(account, service)
    changes: dict[str, Any] = {}
    for name, text in (("minimum", minimum), ("free", free), ("ceiling", ceiling)):
        if text is not None:
            changes[name] = _count(text, _flag(name))
    if multiple is not None:
        changes["multiple"] = _count(multiple, "--multiple")
    for name, text, allowed in (
        ("rounding", rounding, ROUNDINGS),
        ("terms", terms, TERMS_CHOICES),
        ("terms_pick", terms_pick, TERMS_PICKS),
        ("price_owner", price_owner, PRICE_OWNERS),
    ):
        if text is not None:
            changes[name] = _word(text, _flag(name), allowed)
    for name, text in (("markup_percent", markup_percent), ("fixed_price", fixed_price)):
        if text is not None:
            changes[name] = _amount(text, _flag(name))
    if included is not None:
        changes["included"] = True if _word(included, "--included", ("yes",)) else None
    if not changes:
        flags = ", ".join(_flag(name) for name in RULE_FIELDS if name != "excluded")
        raise ValidationFailedError(
            "Name at least one rule to set.", fix=f"Pass one or more of {flags}."
        )
    _write(ctx, workspace, valid_from, as_json, target, partial(update_rule, changes=changes))


@rules_app.command("clear")
def clear_command(
    ctx: typer.Context,
    account: AccountOption = None,
    service: ServiceOption = None,
    valid_from: FromOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unset every field of a scope's rule (its exclusion too): the wider rules apply."""
    _write(ctx, workspace, valid_from, as_json, _target(account, service), clear_rule)


def _exclusion_target(account: str | None, service: str | None) -> RuleTarget:
    if account is None and service is None:
        raise ValidationFailedError(
            "Name what to exclude: --account, --service, or both for one account × service."
        )
    return _target(account, service)


@rules_app.command("exclude")
def exclude_command(
    ctx: typer.Context,
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is not billed (shown with the exclusion).")
    ],
    account: AccountOption = None,
    service: ServiceOption = None,
    valid_from: FromOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exclude an account, a service or one account × service from billing."""
    target = _exclusion_target(account, service)
    if not reason.strip():
        raise ValidationFailedError("--reason is empty; say why it is not billed.")
    _write(ctx, workspace, valid_from, as_json, target, partial(exclude, reason=reason))


@rules_app.command("include")
def include_command(
    ctx: typer.Context,
    account: AccountOption = None,
    service: ServiceOption = None,
    override: Annotated[
        bool,
        typer.Option(
            "--override",
            help="Bill it even though a broader scope excludes it: one account × service "
            "over its account's or service's exclusion, an account over its services'.",
        ),
    ] = False,
    valid_from: FromOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """End an exclusion: billed again from the next sync (the scope's other rules stay);
    with --override, billed over a broader scope's exclusion too."""
    target = _exclusion_target(account, service)
    _write(ctx, workspace, valid_from, as_json, target, partial(include, override=override))


@rules_app.command("show")
def show_command(
    ctx: typer.Context,
    account_ref: Annotated[str, typer.Argument(help="The account's reference.")],
    service_ref: Annotated[str, typer.Argument(help="The service's reference.")],
    on: DateOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The rule one account × service is billed by, each field with the scope it is from."""
    day = _day(on, "--date")
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    rule = effective_rule(database, ws.id, account_ref, service_ref, on_date=day)
    if as_json:
        emit_json(
            {
                "workspace": ws.name,
                "account_ref": account_ref,
                "service_ref": service_ref,
                "on": (day.isoformat() if day else None),
                "rule": effective_dict(rule),
                "text": rule_text(rule),
            }
        )
        return
    echo(f"Account {account_ref} × service {service_ref}: {rule_text(rule)}")
    values = rule_dict(rule)
    for name in RULE_FIELDS:
        if values[name] is not None:
            echo(f"  {name:<15} {values[name]}  ({scope_label(rule.scope_of(name))})")


@rules_app.command("history")
def history_command(
    ctx: typer.Context,
    account: AccountOption = None,
    service: ServiceOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many versions (newest first).")
    ] = 100,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every version stored (newest first), clears and future ones too; --account and
    --service keep the scopes that name them."""
    target = _target(account, service)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    views = rule_history(
        database,
        ws.id,
        account_ref=target.account_ref,
        service_ref=target.service_ref,
        limit=limit,
    )
    if as_json:
        emit_json({"workspace": ws.name, "versions": [view.to_dict() for view in views]})
        return
    echo(f"Workspace {ws.name}: {len(views)} version(s), newest first.")
    _print(views)
