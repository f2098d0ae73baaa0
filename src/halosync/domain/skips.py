"""Pairs halosync leaves alone on purpose: one rule for the planner and the reconciliation.

A trial account, an account not billed yet, an account not mapped to a HaloPSA client and
a service not mapped to a HaloPSA item are skipped by design, not left behind: the
reconciliation shows them as *skipped*, not *out of date*. So is a fractional count bound
for a licence with no rounding rule (:func:`fractional_skip`): never rounded or cut
silently, it waits for the admin to say how. So is a pair whose mapping HaloPSA no longer
takes (:func:`target_skip`: the client gone or inactive, the recurring invoice missing):
the next sync does not bring it up to date, the admin's fix does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    Level,
    SkipKind,
    Target,
    plain_number,
)
from halosync.domain.placement import client_gone_reason, mapped_client

ACCOUNT_UNMAPPED = (
    "is not mapped to a HaloPSA client, so its usage is not billed; map it under Account mapping"
)
SERVICE_UNMAPPED = "is not mapped to a HaloPSA item; map it under Service mapping"


@dataclass(frozen=True, slots=True)
class DeliberateSkip:
    """Why a pair is not synced: by design, or until an admin fixes its mapping."""

    kind: SkipKind
    level: Level
    reason: str


def deliberate_skip(
    sub: DesiredSubscription,
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
) -> DeliberateSkip | None:
    """The reason ``sub`` is left alone on purpose, or None when it is to be synced."""
    if sub.account_status == "trial":
        return DeliberateSkip("trial", "INFO", "trial account: usage is synced once it is billed")
    if not sub.billed:
        return DeliberateSkip(
            "not_billed", "INFO", "account not billed yet: usage is synced once it is billed"
        )
    if sub.account_ref not in account_targets:
        return DeliberateSkip(
            "account_unmapped",
            "WARNING",
            f"account '{sub.account_name}' {ACCOUNT_UNMAPPED}",
        )
    if sub.service_ref not in service_items:
        return DeliberateSkip(
            "service_unmapped",
            "WARNING",
            f"service '{sub.service_name}' {SERVICE_UNMAPPED}",
        )
    return None


def target_skip(target: AccountTarget, sync_target: Target) -> DeliberateSkip | None:
    """The reason a mapped account's pairs cannot be written where they are mapped (the
    client gone or inactive; for invoice lines, no recurring invoice or one gone): left
    alone until an admin fixes the mapping. None when they can."""
    client = mapped_client(target)
    if target.client_gone:
        return DeliberateSkip(
            "client_gone",
            "WARNING",
            client_gone_reason(target),
        )
    if not target.client_active:
        return DeliberateSkip(
            "client_inactive",
            "WARNING",
            f"HaloPSA client {client} is inactive; reactivate it in HaloPSA or remap the account",
        )
    if sync_target != "invoice_line":
        return None
    if target.recurring_invoice_id is None:
        return DeliberateSkip(
            "invoice_unmapped",
            "WARNING",
            f"no recurring invoice is mapped for HaloPSA client {client} (status "
            "Required); create one in HaloPSA, run Sync Organizations, then map it",
        )
    if target.recurring_invoice_gone:
        return DeliberateSkip(
            "invoice_gone",
            "WARNING",
            f"recurring invoice {target.recurring_invoice_id} of HaloPSA client {client} "
            "no longer exists; map the account to another recurring invoice",
        )
    return None


def skip_of(
    sub: DesiredSubscription,
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
    target: Target,
    rounding: str | None,
) -> DeliberateSkip | None:
    """Why the sync leaves ``sub`` alone before it looks at HaloPSA's records, in the
    planner's order (the reconciliation's one question); None when it is synced."""
    skip = deliberate_skip(sub, account_targets, service_items)
    if skip is None:
        skip = target_skip(account_targets[sub.account_ref], target)
    return skip or fractional_skip(sub, target, rounding)


def fractional_skip(
    sub: DesiredSubscription, target: Target, rounding: str | None
) -> DeliberateSkip | None:
    """A fractional vendor count bound for a licence (a whole number in Halo) with no
    rounding rule for the pair: skipped with the fix, None otherwise (an ended subscription
    goes to 0 whatever its count)."""
    quantity = sub.quantity
    if (
        target != "licence"
        or rounding is not None
        or sub.ended_reason is not None
        or not quantity.is_finite()
        or quantity == quantity.to_integral_value()
    ):
        return None
    service, account = sub.service_ref, sub.account_ref
    return DeliberateSkip(
        "fractional",
        "WARNING",
        f"quantity {plain_number(quantity)} is not a whole number, and a HaloPSA licence "
        f"count must be, so nothing was written; set a rounding rule for service {service} "
        f"(or for account {account} \u00d7 service {service}) under Quantity rules, e.g. "
        f"halosync rules set --service {service} --rounding up",
    )


UNCHANGED = "Unchanged since the last sync."
MAX_NAMED_SKIPS = 20
"""How many accounts (or services) a summary names per group before it only counts."""
EXPECTED_TITLE = "Subscriptions skipped"
FRACTIONS_TITLE = "Counts without a rounding rule"

SummaryKind = Literal["expected", "account_unmapped", "service_unmapped", "fractional"]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}(s)"


def _unmapped_accounts(count: int, groups: Sequence[str]) -> str:
    return (
        f"{_plural(count, 'subscription')} of {_plural(len(groups), 'account')} not mapped "
        "to a HaloPSA client are not billed; map them under Account mapping. "
    )


def _unmapped_services(count: int, groups: Sequence[str]) -> str:
    return (
        f"{_plural(count, 'subscription')} of {_plural(len(groups), 'service')} not mapped "
        "to a HaloPSA item are not billed; map them under Service mapping. "
    )


def _fractions(count: int, groups: Sequence[str]) -> str:
    return (
        f"{_plural(count, 'subscription')} of {_plural(len(groups), 'service')} have a count "
        "that is not a whole number, and a HaloPSA licence count must be, so nothing was "
        "written for them; set a rounding rule for each service under Quantity rules, e.g. "
        f"halosync rules set --service {groups[0]} --rounding up. "
    )


@dataclass(frozen=True, slots=True)
class _Summarised:
    """How one kind of skip is summarised: its entry's title and level, what it groups by
    and names, and its opening sentence."""

    title: str
    level: Level
    by_service: bool
    """Groups are services naming accounts (else accounts naming services; for the
    expected skips, reasons naming accounts)."""
    limit: int | None
    """How many a group names; None: every one (the admin maps them all from the entry)."""
    head: Callable[[int, Sequence[str]], str] | None
    """(subscriptions, group keys) -> the opening sentence; None: the groups say it all."""


_SUMMARISED: dict[SummaryKind, _Summarised] = {
    "expected": _Summarised(EXPECTED_TITLE, "INFO", False, MAX_NAMED_SKIPS, None),
    "account_unmapped": _Summarised(
        "Accounts not mapped", "WARNING", False, None, _unmapped_accounts
    ),
    "service_unmapped": _Summarised(
        "Services not mapped", "WARNING", True, None, _unmapped_services
    ),
    "fractional": _Summarised(FRACTIONS_TITLE, "WARNING", True, MAX_NAMED_SKIPS, _fractions),
}


@dataclass(frozen=True, slots=True)
class SkipSummary:
    """One run's skips of one kind, as one log entry says them."""

    title: str
    level: Level
    details: str
    """In a stable order, so that an unchanged set reads the same."""
    complete: bool
    """It names every pair: an entry reading the same names the same set."""


class SkipTally:
    """A run's skips by design, gathered chunk by chunk: one summary per kind instead of a
    log entry per pair (which, every run at 100,000 pairs, buries everything else). The
    per-pair reason and fix stay in the run's results."""

    def __init__(self) -> None:
        self._groups: dict[SummaryKind, dict[str, tuple[int, set[str]]]] = {}

    def add(
        self,
        action: str,
        level: Level,
        skip: SkipKind | None,
        account: str,
        service: str,
        reason: str,
    ) -> bool:
        """Count one result in its summary; False when it is not summarised (logged on
        its own): anything but a skip, or a skip needing attention for another reason."""
        kind: SummaryKind
        if action != "skip":
            return False
        if level == "INFO":
            kind, key, item = "expected", reason, account
        elif skip == "account_unmapped" or skip == "service_unmapped" or skip == "fractional":
            kind = skip
            by_service = _SUMMARISED[kind].by_service
            key, item = (service, account) if by_service else (account, service)
        else:
            return False
        groups = self._groups.setdefault(kind, {})
        count, items = groups.get(key, (0, set()))
        items.add(item)
        groups[key] = (count + 1, items)
        return True

    def summaries(self) -> list[SkipSummary]:
        """One summary per kind seen, in a fixed order."""
        return [
            self._summary(kind, groups)
            for kind in _SUMMARISED
            if (groups := self._groups.get(kind))
        ]

    @staticmethod
    def _summary(kind: SummaryKind, groups: dict[str, tuple[int, set[str]]]) -> SkipSummary:
        how = _SUMMARISED[kind]
        keys = sorted(groups)
        parts = []
        complete = True
        for key in keys:
            count, items = groups[key]
            named = sorted(items)[: how.limit]
            listed = ", ".join(named)
            if len(named) < len(items):
                listed += f" and {len(items) - len(named)} more"
                complete = False
            if how.head is None:
                parts.append(f"{_plural(count, 'subscription')}, {key} ({listed})")
            else:
                parts.append(f"{key}: {listed}")
        head = "" if how.head is None else how.head(sum(c for c, _ in groups.values()), keys)
        return SkipSummary(how.title, how.level, f"{head}{'; '.join(parts)}.", complete)
