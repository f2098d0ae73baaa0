"""Pairs halosync leaves alone on purpose: one rule for the planner and the reconciliation.

A trial account, an account not billed yet, an account not mapped to a HaloPSA client and
a service not mapped to a HaloPSA item are skipped by design, not left behind: the
reconciliation shows them as *skipped*, not *out of date*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from halosync.domain.models import AccountTarget, DesiredSubscription, Level

SkipKind = Literal["trial", "not_billed", "account_unmapped", "service_unmapped"]


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
            f"account '{sub.account_name}' is not mapped to a HaloPSA client, so its usage "
            "is not billed; map it under Account mapping",
        )
    if sub.service_ref not in service_items:
        return DeliberateSkip(
            "service_unmapped",
            "WARNING",
            f"service '{sub.service_name}' is not mapped to a HaloPSA item; map it under "
            "Service mapping",
        )
    return None
