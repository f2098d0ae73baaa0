"""Pairs halosync leaves alone on purpose: one rule for the planner and the reconciliation.

A trial account, an account not billed yet, an account not mapped to a HaloPSA client and
a service not mapped to a HaloPSA item are skipped by design, not left behind: the
reconciliation shows them as *skipped*, not *out of date*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from halosync.domain.models import AccountTarget, DesiredSubscription, Level

SkipKind = Literal["trial", "not_billed", "account_unmapped", "service_unmapped"]
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
