"""Review before billing: which planned writes wait for a person instead of reaching Halo.

Pure and deterministic, applied to the planner's output before anything is executed: a
write the workspace's :class:`ReviewPolicy` finds unusual is *held* (turned into a skip
that names why), a write whose exact value a reviewer rejected earlier is skipped without
asking again, a write a reviewer approved passes (its chain saying so), and everything
else passes unchanged. The defaults and their reasoning are
in ``docs/sync-rules.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from halosync.domain.halo_values import json_fields
from halosync.domain.models import (
    REVIEW_STATUSES,
    HaloValue,
    Plan,
    PlannedChange,
    ReviewStatus,
    Target,
)
from halosync.domain.rules import approved_chain

QUANTITY_FIELD: dict[Target, str] = {"licence": "count", "invoice_line": "qty_order"}
"""The Halo field holding the billed quantity, per target."""
PRICE_FIELDS: dict[Target, tuple[str, ...]] = {
    "licence": ("price", "purchase_price"),
    "invoice_line": ("unit_price", "unit_cost"),
}
"""The Halo fields holding prices (sell, cost), per target."""

HELD_REASON_PREFIX = "held for review"
REJECTED_REASON = (
    "a reviewer rejected this exact change earlier, so HaloPSA is left as it is; a "
    "different value from the vendor is held for review again"
)


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """When a planned write waits for a person; ``None`` (or False) turns a rule off.

    Thresholds are exceeded strictly: with ``change_above_percent=50`` a change from 10 to
    15 applies, one to 16 is held.
    """

    change_above_units: int | None = None
    """Hold an update whose quantity moves by more than this many units, up or down."""
    change_above_percent: int | None = 50
    """Hold an update whose quantity moves by more than this share of the current one."""
    new_above_units: int | None = None
    """Hold a new licence or line whose quantity is above this."""
    any_price_change: bool = False
    """Hold every update that changes a price."""
    drop_to_zero: bool = True
    """Hold every update that takes a quantity above 0 down to 0."""


REVIEW_OFF = ReviewPolicy(change_above_percent=None, drop_to_zero=False)
"""Every rule off: every planned write applies."""
DEFAULT_REVIEW_POLICY = ReviewPolicy()
"""A workspace's policy until it is changed: ± 50 % and drop to 0 on, the others off."""


@dataclass(frozen=True, slots=True)
class ReviewedChange:
    """A planned write that did not pass: the planner's change, its value's key, and why."""

    change: PlannedChange
    key: str
    reasons: tuple[str, ...]
    index: int
    """Its place in the plan."""


@dataclass(frozen=True, slots=True)
class Screening:
    """A plan after review: what to execute, and which writes were held, rejected or
    passed because a reviewer approved them."""

    plan: Plan
    held: tuple[ReviewedChange, ...] = ()
    rejected: tuple[ReviewedChange, ...] = ()
    approved: tuple[ReviewedChange, ...] = ()


Decisions = Mapping[tuple[str, str, str], ReviewStatus]
"""(account_ref, service_ref, proposal key) -> the reviewer's decision (or ``pending``); an
approval is in it only until the next sync that plans its change (it applies once)."""


def _number(value: HaloValue) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def _units(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def proposal_key(change: PlannedChange) -> str:
    """What identifies one proposed value of one pair: the same write planned again by a
    later run gets the same key; any other value, record or action a different one."""
    document = [
        change.action,
        change.target,
        change.halo_id,
        change.halo_client_id,
        change.recurring_invoice_id,
        sorted(json_fields(change.after).items()),
        # A term kept apart proposes its own values (keys of the pair's one record unchanged).
        *([change.apart_term] if change.apart_term else []),
    ]
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def hold_reasons(change: PlannedChange, policy: ReviewPolicy) -> tuple[str, ...]:
    """Why ``policy`` holds this planned write, in the billing admin's words; () = apply.

    The quantity rules' holds (a quantity above a ceiling) come first and apply whatever
    the policy: a ceiling is never passed without a person's approval.
    """
    if not change.is_write or change.target is None:
        return ()
    field = QUANTITY_FIELD[change.target]
    noun = "licence" if change.target == "licence" else "invoice line"
    reasons: list[str] = list(change.rule_holds)
    if change.action == "create":
        new = _number(change.after.get(field))
        limit = policy.new_above_units
        if limit is not None and new is not None and new > limit:
            reasons.append(f"a new {noun} for {_units(new)} units (limit for new records {limit})")
        return tuple(reasons)
    if field in change.after:
        old, new = _number(change.before.get(field)), _number(change.after.get(field))
        if old is not None and new is not None:
            delta = new - old
            if policy.drop_to_zero and old > 0 and new == 0:
                reasons.append(f"the quantity drops from {_units(old)} to 0")
            units = policy.change_above_units
            if units is not None and abs(delta) > units:
                sign = "+" if delta > 0 else "-"
                reasons.append(
                    f"the quantity changes by {sign}{_units(abs(delta))} units (limit ± {units})"
                )
            percent = policy.change_above_percent
            if percent is not None and old > 0 and abs(delta) * 100 > percent * old:
                share = (delta * 100 / old).quantize(Decimal(1))
                sign = "+" if delta > 0 else ""
                reasons.append(
                    f"the quantity changes by {sign}{_units(share)} % (limit ± {percent} %)"
                )
    if policy.any_price_change:
        prices = [name for name in PRICE_FIELDS[change.target] if name in change.after]
        if prices:
            reasons.append(f"the price changes ({', '.join(prices)})")
    return tuple(reasons)


def held_reason(reasons: tuple[str, ...]) -> str:
    """The run result's reason for a held write."""
    return (
        f"{HELD_REASON_PREFIX}: {'; '.join(reasons)}. HaloPSA is left as it is until "
        "someone approves it under Review"
    )


def screen_plan(plan: Plan, policy: ReviewPolicy, decisions: Decisions) -> Screening:
    """Apply ``policy`` and earlier ``decisions`` to ``plan``.

    An approved value passes (its ceiling step saying it was approved), a rejected one
    becomes an INFO skip, a held one a WARNING skip (its before/after kept for the
    results); every other change is passed unchanged, in the same order.
    """
    changes: list[PlannedChange] = []
    held: list[ReviewedChange] = []
    rejected: list[ReviewedChange] = []
    approved: list[ReviewedChange] = []
    for index, change in enumerate(plan.changes):
        if not change.is_write:
            changes.append(change)
            continue
        key = proposal_key(change)
        decision = decisions.get((change.account_ref, change.service_ref, key))
        if decision == "approved":
            approved.append(ReviewedChange(change, key, (), index))
            changes.append(replace(change, explain=approved_chain(change.explain)))
            continue
        if decision == "rejected":
            rejected.append(ReviewedChange(change, key, (), index))
            changes.append(_skip(change, "INFO", REJECTED_REASON))
            continue
        reasons = hold_reasons(change, policy)
        if not reasons:
            changes.append(change)
            continue
        held.append(ReviewedChange(change, key, reasons, index))
        changes.append(_skip(change, "WARNING", held_reason(reasons)))
    return Screening(Plan(tuple(changes)), tuple(held), tuple(rejected), tuple(approved))


def _skip(change: PlannedChange, level: Literal["INFO", "WARNING"], reason: str) -> PlannedChange:
    return replace(change, action="skip", level=level, reason=reason, write=None)


__all__ = [
    "DEFAULT_REVIEW_POLICY",
    "PRICE_FIELDS",
    "QUANTITY_FIELD",
    "REVIEW_OFF",
    "REVIEW_STATUSES",
    "Decisions",
    "ReviewPolicy",
    "ReviewStatus",
    "ReviewedChange",
    "Screening",
    "hold_reasons",
    "proposal_key",
    "screen_plan",
]
