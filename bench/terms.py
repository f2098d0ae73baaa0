"""What combining terms costs a usage sync: CPU time at 10k and 100k pairs.

    uv run python bench/terms.py [--pairs 10000,100000] [--repeat 5]

Half the pairs come in one term, half in two (monthly and annual), with a ledger row per
pair; the ledger and the subscriptions are built once per size. Prints, per size and
rule (none, sum, apart, pick), min / median of the CPU time (process time, so the
neighbours' load does not count) of ``combine_terms`` over all of them, and the growth
ratio from the first size to the last.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date
from decimal import Decimal

from halosync.domain.models import DesiredSubscription, LedgerRecord
from halosync.domain.rules import EMPTY_RULE_BOOK, QuantityRule, RuleBook
from halosync.domain.terms import combine_terms


def _inputs(pairs: int) -> tuple[list[DesiredSubscription], list[LedgerRecord]]:
    subs: list[DesiredSubscription] = []
    ledger: list[LedgerRecord] = []
    for n in range(pairs):
        base = DesiredSubscription(
            account_ref=f"A{n // 10}",
            account_name=f"Account {n // 10}",
            account_status="active",
            billed=True,
            service_ref=f"S{n % 10}",
            service_name=f"Service {n % 10}",
            quantity=Decimal(n % 50),
            start_date=date(2025, 1, 1),
            billing_cycle="monthly",
            term="monthly",
            cost_price=Decimal(10),
        )
        subs.append(base)
        if n % 2:
            subs.append(
                DesiredSubscription(
                    **{
                        **{f: getattr(base, f) for f in base.__dataclass_fields__},
                        "term": "annual",
                        "quantity": Decimal(5),
                    }
                )
            )
        ledger.append(
            LedgerRecord(base.account_ref, base.service_ref, "licence", 1, None, n, "written", "")
        )
    return subs, ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.pairs.split(",")]
    books = {"none": EMPTY_RULE_BOOK} | {
        choice: RuleBook(workspace=QuantityRule(terms=choice))
        for choice in ("sum", "apart", "pick")
    }
    medians: dict[str, list[float]] = {name: [] for name in books}
    for size in sizes:
        subs, ledger = _inputs(size)
        for name, book in books.items():
            times = []
            for _ in range(args.repeat):
                started = time.process_time()
                combine_terms(subs, book, ledger)
                times.append(time.process_time() - started)
            medians[name].append(statistics.median(times))
            print(
                f"{size:>7} pairs ({len(subs):>7} subscriptions) {name:<5}: "
                f"{min(times):.3f} / {statistics.median(times):.3f} s CPU (min / median)"
            )
    for name, values in medians.items():
        print(f"growth {name:<5} {sizes[0]} -> {sizes[-1]}: {values[-1] / values[0]:.1f}x")


if __name__ == "__main__":
    main()
