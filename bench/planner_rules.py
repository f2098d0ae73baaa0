"""The planner with and without quantity rules: CPU time at 10k and 100k pairs.

    uv run python bench/planner_rules.py [--pairs 10000,100000] [--repeat 3]

Each size plans N account × service pairs (one service per account, a licence per pair
already in Halo and in the ledger, every tenth count changed since, the rest in step) three
ways: no rules (``EMPTY_RULE_BOOK``), a workspace rule only (minimum 1, free 1), and a rule on every
pair (minimum, free, rounding to packs of 5, a ceiling and a markup) with every fiftieth
account excluded. Prints, per size and book, min / median CPU time (process time, so the
neighbours' load does not count), µs per pair and the growth ratio 10k → 100k.
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal

from halosync.domain.markers import marker_for
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    HaloLicence,
    LedgerRecord,
    SyncSettings,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.rules import EMPTY_RULE_BOOK, QuantityRule, RuleBook

WS = "bench"


Inputs = tuple[
    list[DesiredSubscription], dict[str, AccountTarget], list[LedgerRecord], list[HaloLicence]
]


def _inputs(pairs: int) -> Inputs:
    subs: list[DesiredSubscription] = []
    targets: dict[str, AccountTarget] = {}
    ledger: list[LedgerRecord] = []
    licences: list[HaloLicence] = []
    for n in range(pairs):
        account = f"A{n}"
        quantity = 10 + n % 37
        subs.append(
            DesiredSubscription(
                account_ref=account,
                account_name=f"Account {n}",
                account_status="active",
                billed=True,
                service_ref="MAIL",
                service_name="Mail",
                quantity=Decimal(quantity),
                cost_price=Decimal(quantity * 4),
                customer_price=Decimal(quantity * 5),
            )
        )
        targets[account] = AccountTarget(halo_client_id=n + 1)
        marker = marker_for(WS, account, "MAIL")
        ledger.append(
            LedgerRecord(account, "MAIL", "licence", n + 1, None, n + 1, "written", marker)
        )
        licences.append(
            HaloLicence(
                id=n + 1,
                client_id=n + 1,
                name="Mail",
                count=quantity + (1 if n % 10 == 0 else 0),
                price=Decimal(quantity * 5),
                purchase_price=Decimal(quantity * 4),
                status="Active",
                marker=marker,
            )
        )
    return subs, targets, ledger, licences


def _books(pairs: int) -> dict[str, RuleBook]:
    every_pair = {
        (f"A{n}", "MAIL"): QuantityRule(
            minimum=12,
            free=n % 3,
            rounding="up",
            multiple=5,
            ceiling=60,
            price_owner="markup",
            markup_percent=Decimal(25),
        )
        for n in range(pairs)
    }
    return {
        "no rules": EMPTY_RULE_BOOK,
        "workspace rule": RuleBook(workspace=QuantityRule(minimum=1, free=1)),
        "a rule per pair": RuleBook(
            workspace=QuantityRule(minimum=1),
            accounts={f"A{n}": QuantityRule(excluded="internal") for n in range(0, pairs, 50)},
            pairs=every_pair,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.pairs.split(",")]
    medians: dict[str, list[float]] = {}
    for pairs in sizes:
        subs, targets, ledger, licences = _inputs(pairs)
        for name, book in _books(pairs).items():
            times = []
            for _ in range(args.repeat):
                started = time.process_time()
                plan = plan_usage_sync(
                    subs,
                    account_targets=targets,
                    service_items={"MAIL": 1},
                    ledger=ledger,
                    settings=SyncSettings(price_mode="totals", workspace_key=WS),
                    halo_licences=licences,
                    rules=book,
                )
                times.append(time.process_time() - started)
            assert len(plan.changes) == pairs
            median = statistics.median(times)
            medians.setdefault(name, []).append(median)
            print(
                f"{pairs:>7} pairs  {name:<16} min {min(times):.3f} s  median {median:.3f} s  "
                f"{median / pairs * 1e6:.1f} µs/pair  ({plan.counts})"
            )
    if len(sizes) == 2:
        for name, (small, large) in medians.items():
            print(f"growth {sizes[0]} → {sizes[1]} ({name}): {large / small:.1f}×")


if __name__ == "__main__":
    main()
