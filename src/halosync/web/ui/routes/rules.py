"""Quantity rules: the workspace default, per-service and per account × service rules and
the exclusions, each with its valid-from day and history. Viewers read; admins change.

Every rule is checked by the rules service (:func:`halosync.rules.service.update_rule`,
which calls :func:`halosync.domain.rules.rule_problems`): the page only reads the form's
text into values and shows the service's refusals next to the fields they name. A value
that does not read as a number is handed over as typed, so the one validator names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from halosync.domain.numbers import parse_decimal
from halosync.domain.rules import (
    COUNT_FIELDS,
    EXCLUSION_FIELDS,
    INCLUDABLE_SCOPES,
    PRICE_OWNERS,
    ROUNDINGS,
    RULE_FIELDS,
    TERMS_CHOICES,
    TERMS_PICKS,
    QuantityRule,
)
from halosync.errors import HalosyncError, NotFoundError
from halosync.rules.service import (
    Change,
    RuleChange,
    RuleProblemsError,
    RuleTarget,
    RuleView,
    StillExcludedError,
    clear_rule,
    exclude,
    excluded_by,
    include,
    list_rules,
    rule_history,
    rule_text,
    today,
    update_rule,
)
from halosync.store.database import Database
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

HISTORY_SHOWN = 50
"""How many of the latest versions the page's history lists."""
EDITED_FIELDS = tuple(name for name in RULE_FIELDS if name not in EXCLUSION_FIELDS)
"""The fields the rule form sets; ``excluded`` and ``included`` have their own form
(exclude, include, bill it anyway over a broader exclusion)."""
CHOICES: dict[str, tuple[str, ...]] = {
    "rounding": ROUNDINGS,
    "terms": TERMS_CHOICES,
    "terms_pick": TERMS_PICKS,
    "price_owner": PRICE_OWNERS,
}
AMOUNT_FIELDS = ("markup_percent", "fixed_price")
TYPED_FIELDS = (
    ("free", "Free (the first N are not billed)"),
    ("minimum", "Minimum (bill at least N)"),
    ("ceiling", "Ceiling (more than N waits for review)"),
    ("multiple", "Multiple (round to packs of N)"),
    ("markup_percent", "Markup (% over cost)"),
    ("fixed_price", "Fixed sell price per unit"),
)
"""The rule form's typed fields and their labels, in the page's order."""
CHOSEN_FIELDS = (
    ("rounding", "Rounding of fractional counts"),
    ("terms", "Several terms of one pair"),
    ("terms_pick", "Which term \u201cpick\u201d keeps"),
    ("price_owner", "Who owns the price"),
)
"""The rule form's fields chosen from a list, after the typed ones."""
FORM_ORDER = tuple(name for name, _ in (*TYPED_FIELDS, *CHOSEN_FIELDS))


def _actor(member: Member) -> str:
    return f"{member.viewer.name} <{member.viewer.email}>"


def _ref(text: object) -> str | None:
    """A reference typed into the scope's fields (blank: that part of the scope is absent)."""
    if not isinstance(text, str) or not text.strip():
        return None
    return text.strip()


def rules_url(workspace_id: int, target: RuleTarget, anchor: str = "edit") -> str:
    """The rules page opened at ``target``'s form."""
    query = {
        name: value
        for name, value in (("account", target.account_ref), ("service", target.service_ref))
        if value is not None
    }
    return (
        workspace_url(workspace_id, "rules")
        + (f"?{urlencode(query)}" if query else "")
        + f"#{anchor}"
    )


def _value(name: str, text: str) -> Any:
    """The form's text for field ``name`` as the rule holds it; blank is "not set". Text
    that does not read as the field's kind is returned as typed, for ``rule_problems`` to
    name (the UI never judges a rule itself)."""
    text = text.strip()
    if not text:
        return None
    if name in COUNT_FIELDS:
        number = whole_number(text, minimum=-(2**63), maximum=2**63)
        return text if number is None else number
    if name in AMOUNT_FIELDS:
        amount = parse_decimal(text)
        return text if amount is None else amount
    return text


def _shown(value: object) -> str:
    """A rule's value as its input shows it."""
    return "" if value is None else str(value)


@dataclass
class Editing:
    """The scope the form edits, the values shown and the service's refusals by field."""

    target: RuleTarget
    values: dict[str, str] = field(default_factory=dict)
    valid_from: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    @property
    def exclusion_only(self) -> bool:
        """An account alone is only excluded or not (counts and prices are per service)."""
        return self.target.scope == "account"

    @property
    def first_error(self) -> str | None:
        """The first field (in the form's order) the refusal names: it gets the focus, so
        the browser shows it and a screen reader reads it."""
        order = (*FORM_ORDER, "valid_from", "excluded")
        return next((name for name in order if name in self.errors), None)

    @property
    def heading(self) -> str:
        """What the form edits, as people say it."""
        if self.target.scope == "workspace":
            return "Workspace default"
        label = self.target.label()
        return label[:1].upper() + label[1:]


def _problems_by_field(error: RuleProblemsError) -> dict[str, str]:
    """The refusal's problems keyed by the input they belong to ("" = the form as a whole)."""
    found: dict[str, str] = {}
    for name, why in error.problems:
        key = name if name in RULE_FIELDS or name == "valid_from" else ""
        found[key] = f"{found[key]}; {why}" if key in found else why
    return found


def _scope_error(error: HalosyncError) -> dict[str, str]:
    return {"scope": error.message}


def _page(
    request: Request,
    member: Member,
    editing: Editing,
    *,
    status_code: int = 200,
) -> Response:
    state = ui_state(request)
    in_force = list_rules(state.database, member.workspace_id)
    own = next((view for view in in_force if view.target == editing.target), None)
    if not editing.values and "scope" not in editing.errors:
        rule = own.rule if own is not None else QuantityRule()
        editing.values = {name: _shown(getattr(rule, name)) for name in EDITED_FIELDS}
    if not editing.valid_from:
        editing.valid_from = today().isoformat()
    broader = None
    try:
        scope_history = _scope_history(state.database, member.workspace_id, editing.target)
        broader = excluded_by(state.database, member.workspace_id, editing.target)
    except NotFoundError as unknown:
        editing.errors.update(_scope_error(unknown))
        scope_history = []
    history = rule_history(state.database, member.workspace_id, limit=HISTORY_SHOWN)
    return render(
        request,
        "rules.html",
        {
            "member": member,
            "page": "rules",
            "editing": editing,
            "own": own,
            "in_force": [view for view in in_force if view.rule.excluded is None],
            "exclusions": [
                view for view in in_force if view.rule.excluded is not None or view.rule.included
            ],
            "broader": broader,
            "includable": editing.target.scope in INCLUDABLE_SCOPES,
            "services_excluded": any(
                view.scope == "service" and view.rule.excluded is not None for view in in_force
            ),
            "history": history,
            "scope_history": scope_history,
            "choices": CHOICES,
            "typed_fields": TYPED_FIELDS,
            "chosen_fields": CHOSEN_FIELDS,
            "rule_text": rule_text,
            "rules_url": lambda target: rules_url(member.workspace_id, target),
            "today": today().isoformat(),
        },
        status_code=status_code,
    )


def _scope_history(database: Database, workspace_id: int, target: RuleTarget) -> list[RuleView]:
    """The versions of exactly the edited scope, newest first."""
    views = rule_history(
        database,
        workspace_id,
        account_ref=target.account_ref,
        service_ref=target.service_ref,
    )
    return [view for view in views if view.target == target][:HISTORY_SHOWN]


@router.get("/ui/w/{workspace_id}/rules")
def rules_page(request: Request, member: Annotated[Member, Depends(current_member)]) -> Response:
    """The rules in force, the edited scope's form and history, exclusions, all history."""
    query = request.query_params
    target = RuleTarget(_ref(query.get("account")), _ref(query.get("service")))
    return _page(request, member, Editing(target))


def _target_of(form: FormData) -> RuleTarget:
    return RuleTarget(_ref(form.get("account_ref")), _ref(form.get("service_ref")))


def _day(text: object) -> date | None:
    """The valid-from day typed (blank: today); a text that is no date raises."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RuleProblemsError(
            RuleTarget(), [("valid_from", f"{text.strip()!r} is not a date (YYYY-MM-DD)")]
        ) from None


def _done(request: Request, member: Member, change: RuleChange, text: str) -> Response:
    session = web_session(request)
    if change.changed:
        session.flash(
            "success",
            f"{text} from {change.valid_from.isoformat()}: {rule_text(change.after)}. It applies "
            "from the next sync on or after that day."
            + "".join(
                f" Also applied to the version from {view.valid_from.isoformat()}."
                for view in change.carried
            ),
        )
    else:
        session.flash(
            "info",
            f"No change: the {change.target.label()}'s rule from "
            f"{change.valid_from.isoformat()} is already that.",
        )
    for warning in change.warnings:
        session.flash("info", f"Warning: {warning}.")
    return redirect(request, rules_url(member.workspace_id, change.target))


def _form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


Operation = Callable[[FormData], Change]
"""The rules-service call a submitted form makes (its other arguments bound from the form)."""


async def _submit(request: Request, member: Member, operation: Operation, done: str) -> Response:
    """Run ``operation`` on the scope the form names, from its valid-from day, in the thread
    pool. A refusal shows the page again with each problem next to its field and what was
    typed (nothing was changed); success goes back to the scope saying ``done`` (where
    ``{label}`` is the scope)."""
    form = await request.form()
    target = _target_of(form)
    editing = Editing(
        target,
        {name: _form_text(form, name) for name in EDITED_FIELDS if name in form},
        _form_text(form, "valid_from"),
        reason=_form_text(form, "reason"),
    )
    database = ui_state(request).database

    def save() -> Response:
        try:
            day = _day(editing.valid_from)
            change = operation(form)(
                database, member.workspace_id, target, valid_from=day, actor=_actor(member)
            )
        except RuleProblemsError as refused:
            editing.errors = _problems_by_field(refused)
            return _page(request, member, editing, status_code=422)
        except StillExcludedError as refused:
            editing.errors = {"excluded": refused.text_for("ui")}
            return _page(request, member, editing, status_code=422)
        except HalosyncError as refused:
            editing.errors = _scope_error(refusal(refused))
            return _page(request, member, editing, status_code=422)
        return _done(request, member, change, done.format(label=target.label()))

    return await run_in_threadpool(save)


def _changes(form: FormData) -> dict[str, Any]:
    """The rule form's fields as the rule holds them (see :func:`_value`)."""
    return {name: _value(name, _form_text(form, name)) for name in EDITED_FIELDS}


def _overriding(form: FormData) -> bool:
    """The "Bill it anyway" button: an include over a broader exclusion."""
    return _form_text(form, "override") == "1"


ACTIONS: dict[str, tuple[Operation, str]] = {
    # Save the edited scope's counts, rounding, terms and prices (its exclusion stays).
    "set": (lambda form: partial(update_rule, changes=_changes(form)), "Rule of the {label} saved"),
    # Unset every field of the edited scope (its exclusion too): wider rules apply.
    "clear": (lambda _form: clear_rule, "Rule of the {label} cleared"),
    # Exclude an account, a service or an account × service from billing, with a reason.
    "exclude": (
        lambda form: partial(exclude, reason=_form_text(form, "reason")),
        "The {label} is excluded from billing",
    ),
    # End an exclusion (its other rules stay); "Bill it anyway": over a broader one too.
    "include": (
        lambda form: partial(include, override=_overriding(form)),
        "The {label} is billed again",
    ),
    # End an include over a broader exclusion: that exclusion applies again.
    "end-override": (
        lambda _form: partial(update_rule, changes={"included": None}),
        "The {label} follows the broader exclusion again",
    ),
}
"""The rules page's forms by the action they post to: the call and what success says."""


@router.post("/ui/w/{workspace_id}/rules/{action}")
async def rule_form(
    request: Request, action: str, member: Annotated[Member, Depends(current_admin)]
) -> Response:
    """Save, clear, exclude, include or end an override, from a form of the rules page."""
    if action not in ACTIONS:
        raise NotFoundError(f"The rules page has no form {action!r}.")
    operation, done = ACTIONS[action]
    return await _submit(request, member, operation, done)
