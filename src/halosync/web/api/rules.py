"""``/rules``: the quantity rules (minimum, free, ceiling, rounding, terms, prices,
exclusions) per scope, dated versions that never rewrite the past.

The scope is named by the query parameters, as ``halosync rules`` names it by options:
neither ``account_ref`` nor ``service_ref`` is the workspace's default, ``service_ref`` one
service, ``account_ref`` one account (exclusions only), both one account × service.
Repeating a write stores nothing (``"changed": false``), so every write is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from types import MappingProxyType
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from halosync.domain.rules import (
    AMOUNT_PLACES,
    MAX_RULE_AMOUNT,
    MAX_RULE_COUNT,
    PriceOwner,
    QuantityRule,
    Rounding,
    RuleScope,
    TermsChoice,
    TermsPick,
)
from halosync.rules.service import (
    Change,
    RuleProblemsError,
    RuleTarget,
    StillExcludedError,
    clear_rule,
    effective_dict,
    effective_rule,
    exclude,
    include,
    list_rules,
    rule_history,
    rule_text,
    set_rule,
    update_rule,
)
from halosync.store.database import Database
from halosync.web.api.auth import Caller, current_caller, get_database, writer
from halosync.web.api.deps import PREFIX
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX + "/rules", tags=["rules"], route_class=JsonBodyRoute)

MAX_HISTORY = 1000
REASON_LENGTH = 500

# Strict: a count is a JSON integer; true, "5" and 5.0 are refused rather than read as 1 or 5.
Count = Annotated[int, Field(ge=0, le=MAX_RULE_COUNT, strict=True)]
Amount = Annotated[Decimal, Field(ge=0, lt=MAX_RULE_AMOUNT, decimal_places=AMOUNT_PLACES)]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_LENGTH)
]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=255)]
AccountRef = Annotated[
    Ref | None,
    Query(description="An account's reference (with service_ref: that account × service)."),
]
ServiceRef = Annotated[Ref | None, Query(description="A service's reference.")]
OnDate = Annotated[
    date | None, Query(alias="on", description="The day to read the rules of; today (UTC).")
]


class RuleFields(BaseModel):
    """A scope's rule; null (or left out) = not set here: the wider scope's value applies."""

    model_config = ConfigDict(extra="forbid")

    minimum: Count | None = Field(default=None, description="Bill at least N.")
    free: Count | None = Field(default=None, description="The first N are not billed.")
    ceiling: Count | None = Field(
        default=None, description="A quantity above N waits for review before it is written."
    )
    rounding: Rounding | None = Field(
        default=None, description="How a fractional count becomes whole (or a multiple)."
    )
    multiple: Annotated[int, Field(ge=1, le=MAX_RULE_COUNT, strict=True)] | None = Field(
        default=None, description="With rounding: round to a multiple of N (packs of 5)."
    )
    terms: TermsChoice | None = Field(
        default=None,
        description="Several terms of one account × service: sum them, keep them apart, or "
        "pick one.",
    )
    terms_pick: TermsPick | None = Field(
        default=None, description="With terms pick: the longest or shortest term, or largest."
    )
    price_owner: PriceOwner | None = Field(
        default=None,
        description="halosync (the workspace's price mode), halo (prices never sent) or "
        "markup (cost from the vendor, sell from markup_percent or fixed_price).",
    )
    markup_percent: Amount | None = Field(
        default=None, description="With markup: sell = cost × (1 + P/100) per unit."
    )
    fixed_price: Amount | None = Field(default=None, description="With markup: sell per unit.")
    excluded: Reason | None = Field(
        default=None, description="Set: excluded from billing, and this is the reason."
    )
    included: Literal[True] | None = Field(
        default=None,
        description="true: billed even though a broader scope excludes it (an account over "
        "its services' exclusions, one account × service over its account's or service's).",
    )


class RuleIn(RuleFields):
    """A rule and the day it applies from."""

    valid_from: date | None = Field(
        default=None, description="Today (UTC, the default) or a later day; never earlier."
    )


class ExclusionIn(BaseModel):
    """Why it is not billed, and from when."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="Shown next to the exclusion in grids and results.")
    valid_from: date | None = Field(default=None, description="Today (default) or later.")


class RuleVersionOut(BaseModel):
    """One stored version of a scope's rule."""

    id: int
    scope: RuleScope
    account_ref: str | None
    account_name: str | None
    service_ref: str | None
    service_name: str | None
    valid_from: date
    rule: RuleFields
    text: str = Field(description='"free 3, minimum 25" ("no rule" for a clear).')
    created_at: datetime
    created_by: str = Field(description="The user or API token that made the change.")


class RuleListOut(BaseModel):
    """The rules in force on a day: the workspace's, then services', accounts', pairs'."""

    rules: list[RuleVersionOut]


class RuleHistoryOut(BaseModel):
    """Every version stored, newest first (clears and future ones too)."""

    versions: list[RuleVersionOut]


class RuleChangeOut(BaseModel):
    """What a write did: the scope's rule on ``valid_from`` before and after it."""

    operation: Literal["set", "clear", "exclude", "include"]
    scope: RuleScope
    account_ref: str | None
    service_ref: str | None
    valid_from: date
    changed: bool = Field(description="False: that rule was already in force; nothing stored.")
    before: RuleFields
    after: RuleFields
    text: str
    version: RuleVersionOut | None = Field(description="The version stored, if one was.")
    also_applied: list[RuleVersionOut] = Field(
        default_factory=list,
        description="The scope's later versions the change was carried into (stored anew).",
    )
    still_excluded: str | None = Field(
        default=None,
        description="An exclusion ended while a broader one still applies: which, and why.",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the rule does not do as set (a markup while the workspace's price "
        "mode is off); the rule is stored all the same.",
    )


class EffectiveField(BaseModel):
    """A field of an account × service's rule and the scope it comes from."""

    value: bool | int | str | None = Field(description="Amounts as decimal strings.")
    scope: RuleScope | None


class EffectiveRuleOut(BaseModel):
    """The rule one account × service is billed by, field by field."""

    account_ref: str
    service_ref: str
    on: date | None
    rule: dict[str, EffectiveField]
    text: str


def _problems(error: RuleProblemsError, where: Mapping[str, str]) -> ApiError:
    """The service's refusal as a 422 naming each field where the request holds it."""
    return ApiError(
        422,
        error.message,
        errors=[
            ErrorItem(location=where.get(name, f"$.{name}" if name else "$"), message=why)
            for name, why in error.problems
        ],
    )


def _target(account_ref: AccountRef = None, service_ref: ServiceRef = None) -> RuleTarget:
    """The scope the query parameters name."""
    return RuleTarget(account_ref, service_ref)


Target = Annotated[RuleTarget, Depends(_target)]


@dataclass(frozen=True)
class Writer:
    """An admin's write to the rules: the service's answer, or its refusal as a 422 naming
    where each field is in the request (a 409 for an include a broader scope overrides)."""

    database: Database
    caller: Caller

    def __call__(
        self,
        change: Change,
        target: RuleTarget,
        valid_from: date | None,
        where: Mapping[str, str] = MappingProxyType({}),
    ) -> Any:
        try:
            return change(
                self.database,
                self.caller.workspace_id,
                target,
                valid_from=valid_from,
                actor=f"API token {self.caller.token_id}",
            ).to_dict()
        except RuleProblemsError as error:
            raise _problems(error, where) from None
        except StillExcludedError as error:
            raise ApiError(
                409,
                error.text_for("api"),
                errors=[ErrorItem(location="query.override", message=error.by)],
            ) from None


def _writer(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
) -> Writer:
    return Writer(database, caller)


Write = Annotated[Writer, Depends(_writer)]

_REF_RESPONSES = {
    **ERROR_RESPONSES,
    404: ERROR_RESPONSES[404] | {"description": "No such workspace, account or service."},
}


@router.get("", response_model=RuleListOut, responses=ERROR_RESPONSES)
def get_rules(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    on: OnDate = None,
) -> Any:
    """The rules in force today (or ``on`` a day), one per scope that sets anything."""
    views = list_rules(database, caller.workspace_id, on_date=on)
    return {"rules": [view.to_dict() for view in views]}


@router.get("/history", response_model=RuleHistoryOut, responses=_REF_RESPONSES)
def get_history(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    target: Target,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY, description="At most N versions.")] = 100,
) -> Any:
    """Every version stored, newest first; ``account_ref`` / ``service_ref`` keep the scopes
    naming them (both: that account × service)."""
    views = rule_history(
        database,
        caller.workspace_id,
        account_ref=target.account_ref,
        service_ref=target.service_ref,
        limit=limit,
    )
    return {"versions": [view.to_dict() for view in views]}


@router.get("/effective", response_model=EffectiveRuleOut, responses=_REF_RESPONSES)
def get_effective(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    account_ref: Annotated[Ref, Query(description="The account's reference.")],
    service_ref: Annotated[Ref, Query(description="The service's reference.")],
    on: OnDate = None,
) -> Any:
    """The rule an account × service is billed by: each field from the most specific
    scope that sets it, and which scope that is (``overrides``: the broader exclusion an
    include overrides)."""
    rule = effective_rule(database, caller.workspace_id, account_ref, service_ref, on_date=on)
    return {
        "account_ref": account_ref,
        "service_ref": service_ref,
        "on": on,
        "rule": effective_dict(rule),
        "text": rule_text(rule),
    }


@router.put("", response_model=RuleChangeOut, responses=_REF_RESPONSES)
def put_rule(write: Write, target: Target, body: Annotated[RuleIn, Body()]) -> Any:
    """Make the body the scope's whole rule from ``valid_from`` (fields left out are not
    set at this scope). 422 names each field refused; nothing is changed then."""
    rule = QuantityRule(**body.model_dump(exclude={"valid_from"}))
    return write(partial(set_rule, rule=rule), target, body.valid_from)


@router.patch("", response_model=RuleChangeOut, responses=_REF_RESPONSES)
def patch_rule(write: Write, target: Target, body: Annotated[RuleIn, Body()]) -> Any:
    """Change the fields the body names (null unsets one); the others stay."""
    changes = {name: getattr(body, name) for name in body.model_fields_set if name != "valid_from"}
    if not changes:
        raise ApiError(
            422,
            "Name at least one rule field to change; nothing was changed.",
            errors=[ErrorItem(location="$", message="no rule field given")],
        )
    return write(partial(update_rule, changes=changes), target, body.valid_from)


ValidFrom = Annotated[
    date | None, Query(description="Today (UTC, the default) or a later day; never earlier.")
]
_IN_QUERY = {"valid_from": "query.valid_from", "included": "query.override"}


@router.delete("", response_model=RuleChangeOut, responses=_REF_RESPONSES)
def delete_rule(write: Write, target: Target, valid_from: ValidFrom = None) -> Any:
    """Clear the scope's rule (every field, its exclusion too) from ``valid_from``: the
    wider scopes' rules apply again."""
    return write(clear_rule, target, valid_from, _IN_QUERY)


_EXCLUSION_PLACES = {"excluded": "$.reason"}


@router.put("/exclusion", response_model=RuleChangeOut, responses=_REF_RESPONSES)
def put_exclusion(write: Write, target: Target, body: Annotated[ExclusionIn, Body()]) -> Any:
    """Exclude an account, a service or one account × service from billing (with the
    reason shown in the grids, the dry run and the results); its other rules stay."""
    return write(partial(exclude, reason=body.reason), target, body.valid_from, _EXCLUSION_PLACES)


@router.delete(
    "/exclusion",
    response_model=RuleChangeOut,
    responses=_REF_RESPONSES
    | {409: ERROR_RESPONSES[422] | {"description": "A broader scope excludes it; see override."}},
)
def delete_exclusion(
    write: Write,
    target: Target,
    valid_from: ValidFrom = None,
    override: Annotated[
        bool,
        Query(
            description="Bill it even though a broader scope excludes it: one account × "
            "service over its account's or service's exclusion, an account over its "
            "services'. Without it, an account × service with no exclusion of its own that "
            "a broader scope excludes is a 409 naming that scope."
        ),
    ] = False,
) -> Any:
    """End the scope's exclusion from ``valid_from`` (billed again from the next sync);
    ``still_excluded`` says when a broader exclusion still applies."""
    return write(partial(include, override=override), target, valid_from, _IN_QUERY)
