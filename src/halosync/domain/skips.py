"""Pairs halosync leaves alone on purpose: one rule for the planner and the reconciliation.

A trial account, an account not billed yet, an account not mapped to a HaloPSA client and
a service not mapped to a HaloPSA item are skipped by design, not left behind: the
reconciliation shows them as *skipped*, not *out of date*. So is a fractional count bound
for a licence with no rounding rule (:func:`fractional_skip`): never rounded or cut
silently, it waits for the admin to say how.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    Level,
    Target,
    plain_number,
)

SkipKind = Literal["trial", "not_billed", "account_unmapped", "service_unmapped", "fractional"]
ACCOUNT_UNMAPPED = (
    "is not mapped to a HaloPSA client, so its usage is not billed; map it under Account mapping"
)
SERVICE_UNMAPPED = "is not mapped to a HaloPSA item; map it under Service mapping"


@dataclass(frozen=True, slots=True)
class DeliberateSkip:
    """Why a pair is not synced, by design."""

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


@dataclass(frozen=True, slots=True)
class SkipSummary:
    """One run's skips of one reason: the accounts and services, all of them."""

    title: str
    pairs: tuple[tuple[str, str], ...]
    """(account_ref, service_ref), sorted."""
    grouped_by_service: bool

    def details(self) -> str:
        """The whole set, in a stable order (so an unchanged set reads the same)."""
        groups: dict[str, list[str]] = {}
        for account, service in self.pairs:
            key, item = (service, account) if self.grouped_by_service else (account, service)
            groups.setdefault(key, []).append(item)
        if self.grouped_by_service:
            head = (
                f"{len(self.pairs)} subscription(s) of {len(groups)} service(s) not mapped to "
                "a HaloPSA item are not billed; map them under Service mapping."
            )
        else:
            head = (
                f"{len(self.pairs)} subscription(s) of {len(groups)} account(s) not mapped to "
                "a HaloPSA client are not billed; map them under Account mapping."
            )
        listed = "; ".join(f"{key}: {', '.join(items)}" for key, items in sorted(groups.items()))
        return f"{head} {listed}."


def summarise_skips(
    skipped: Iterable[tuple[str, str, str]],
) -> tuple[list[SkipSummary], list[int]]:
    """Group a run's skipped pairs ``(account_ref, service_ref, reason)`` by reason.

    Accounts and services not mapped (the skips that flood a log: every unmapped account
    × each of its services, every run) become one summary each; the positions of the
    other pairs are returned to be logged one by one.
    """
    accounts: set[tuple[str, str]] = set()
    services: set[tuple[str, str]] = set()
    others: list[int] = []
    for index, (account, service, reason) in enumerate(skipped):
        if reason.startswith("account '") and reason.endswith(ACCOUNT_UNMAPPED):
            accounts.add((account, service))
        elif reason.startswith("service '") and reason.endswith(SERVICE_UNMAPPED):
            services.add((account, service))
        else:
            others.append(index)
    summaries = []
    if accounts:
        summaries.append(SkipSummary("Accounts not mapped", tuple(sorted(accounts)), False))
    if services:
        summaries.append(SkipSummary("Services not mapped", tuple(sorted(services)), True))
    return summaries, others
