from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    HaloLicence,
    LedgerRecord,
    SyncSettings,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.reconcile import (
    ReconcileRow,
    ReconcileSummary,
    csv_rows,
    csv_safe,
    reconcile,
    sort_rows,
)
from halosync.domain.rules import QuantityRule, RuleBook
from halosync.domain.skips import deliberate_skip, fractional_skip
from halosync.domain.text import escaped, text_problem

from .test_rules import quantity_rules

ITEMS = {"S1": 1, "S2": 2, "S3": 3}


def sub(account: str, service: str, qty: int, status: str = "active") -> DesiredSubscription:
    return DesiredSubscription(
        account_ref=account,
        account_name=f"=HYPERLINK({account})",
        account_status="active",
        billed=True,
        service_ref=service,
        service_name=service,
        quantity=Decimal(qty),
        status="cancelled" if status == "cancelled" else "active",
    )


def ledger(account: str, service: str, record: int, qty: int, client: int = 10) -> LedgerRecord:
    return LedgerRecord(
        account_ref=account,
        service_ref=service,
        target="licence",
        halo_client_id=client,
        recurring_invoice_id=None,
        halo_record_id=record,
        state="written",
        marker="m",
        quantity=Decimal(qty),
    )


def test_drift_and_out_of_date_are_flagged() -> None:
    rows = reconcile(
        [sub("A", "S1", 5), sub("A", "S2", 3), sub("A", "S3", 2, "cancelled"), sub("B", "S1", 1)],
        ledger=[ledger("A", "S1", 1, 5), ledger("A", "S2", 2, 3), ledger("A", "S3", 3, 2)],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        halo_licences=[
            HaloLicence(id=1, client_id=10, name="x", count=5),
            HaloLicence(id=2, client_id=10, name="x", count=9),
            HaloLicence(id=3, client_id=10, name="x", count=2),
        ],
    )
    flags = {(r.account_ref, r.service_ref): (r.drift, r.out_of_date) for r in rows}
    assert flags == {
        ("A", "S1"): (False, False),
        ("A", "S2"): (True, True),
        ("A", "S3"): (False, True),
        # B is not mapped to a HaloPSA client: left alone on purpose, not out of date.
        ("B", "S1"): (False, False),
    }
    assert rows[-1].status == "skipped"
    s2 = rows[1]
    assert (s2.vendor_quantity, s2.ledger_quantity, s2.halo_quantity) == (
        Decimal(3),
        Decimal(3),
        Decimal(9),
    )


def test_deleted_record_is_drift() -> None:
    (row,) = reconcile(
        [sub("A", "S1", 5)],
        ledger=[ledger("A", "S1", 1, 5)],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
    )
    assert row.drift
    assert row.halo_quantity is None


def test_csv_neutralises_formulas() -> None:
    rows = reconcile(
        [sub("A", "S1", 5)], ledger=[], account_targets={}, service_items=ITEMS, target="licence"
    )
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(rows))
    parsed = list(csv.reader(io.StringIO(out.getvalue())))
    assert parsed[0][0] == "account_ref"
    assert parsed[1][1] == "'=HYPERLINK(A)"
    assert parsed[1][6] == "5"


@settings(max_examples=200)
@given(st.text(max_size=20))
def test_csv_safe_never_starts_with_a_formula_character(text: str) -> None:
    cell = csv_safe(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.endswith(escaped(text))
    assert text_problem(cell) is None  # no control, no bidirectional override


def test_sort_rows_puts_blanks_last() -> None:
    rows = reconcile(
        [sub("A", "S1", 5), sub("B", "S1", 2)],
        ledger=[ledger("B", "S1", 1, 2)],
        account_targets={"B": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        halo_licences=[HaloLicence(id=1, client_id=10, name="x", count=2)],
    )
    by_halo = sort_rows(rows, "halo_quantity", descending=True)
    assert [r.account_ref for r in by_halo] == ["B", "A"]
    assert [r.account_ref for r in sort_rows(rows, "vendor_quantity")] == ["B", "A"]


def test_a_second_record_with_the_pairs_marker_is_a_duplicate() -> None:
    marker = "[halosync:0123456789abcdef]"
    rows = reconcile(
        [sub("A", "S1", 5), sub("A", "S2", 3)],
        ledger=[
            LedgerRecord(
                account_ref="A",
                service_ref="S1",
                target="licence",
                halo_client_id=10,
                recurring_invoice_id=None,
                halo_record_id=7,
                state="written",
                marker=marker,
                quantity=Decimal(5),
            ),
            ledger("A", "S2", 8, 3),
        ],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        halo_licences=[
            HaloLicence(id=7, client_id=10, name="x", count=5),  # marker not in the list row
            HaloLicence(id=3, client_id=10, name="x", count=5, marker=marker),
            HaloLicence(id=4, client_id=11, name="x", count=5, marker=marker),  # another client
            HaloLicence(id=8, client_id=10, name="y", count=3),
        ],
    )
    assert [(r.service_ref, r.status, r.duplicates) for r in rows] == [
        ("S1", "duplicate", (3,)),
        ("S2", "in_step", ()),
    ]
    table = csv_rows(rows)
    assert table[0][-10:] == [
        "duplicates",
        "skipped",
        "ruled_quantity",
        "explain",
        "excluded",
        "why",
        "term",
        "blocked",
        "unread",
        "status",
    ]
    assert table[1][-10:] == ["3", "", "5", "vendor 5 \u2192 5", "", "", "", "", "", "duplicate"]


def _skippable(
    account: str, service: str, *, status: str = "active", billed: bool = True
) -> DesiredSubscription:
    return DesiredSubscription(
        account_ref=account,
        account_name=account,
        account_status=status,  # type: ignore[arg-type]
        billed=billed,
        service_ref=service,
        service_name=service,
        quantity=Decimal(4),
        status="active",
    )


def test_deliberate_skips_have_their_own_status_with_the_planners_reason() -> None:
    subs = [
        _skippable("TRIAL", "S1", status="trial", billed=False),
        _skippable("UNBILLED", "S1", billed=False),
        _skippable("A", "UNMAPPED"),
        _skippable("NOBODY", "S1"),
        _skippable("A", "S1"),
    ]
    targets = {"A": AccountTarget(10), "TRIAL": AccountTarget(11), "UNBILLED": AccountTarget(12)}
    rows = reconcile(
        subs, ledger=[], account_targets=targets, service_items=ITEMS, target="licence"
    )
    by_pair = {(r.account_ref, r.service_ref): r for r in rows}
    assert {pair: row.status for pair, row in by_pair.items()} == {
        ("TRIAL", "S1"): "skipped",
        ("UNBILLED", "S1"): "skipped",
        ("A", "UNMAPPED"): "skipped",
        ("NOBODY", "S1"): "skipped",
        ("A", "S1"): "out_of_date",  # to be written by the next sync
    }
    for sub_ in subs[:4]:
        skip = deliberate_skip(sub_, targets, ITEMS)
        assert skip is not None
        assert by_pair[(sub_.account_ref, sub_.service_ref)].skipped == skip.reason
    assert "trial account" in str(by_pair[("TRIAL", "S1")].skipped)


@given(
    status=st.sampled_from(["active", "trial", "suspended"]),
    billed=st.booleans(),
    account_mapped=st.booleans(),
    service_mapped=st.booleans(),
)
def test_a_row_is_skipped_exactly_when_the_planner_skips_it_on_purpose(
    status: str, billed: bool, account_mapped: bool, service_mapped: bool
) -> None:
    one = _skippable("A", "S1", status=status, billed=billed)
    targets = {"A": AccountTarget(10)} if account_mapped else {}
    items = ITEMS if service_mapped else {}
    (row,) = reconcile(
        [one], ledger=[], account_targets=targets, service_items=items, target="licence"
    )
    expected = status == "trial" or not billed or not account_mapped or not service_mapped
    assert (row.status == "skipped") == expected
    assert not (row.out_of_date and row.status == "skipped")


MINIMUM_25 = RuleBook(services={"S1": QuantityRule(minimum=25)})


def _one_licence(
    quantity: int, halo: int, rules: RuleBook, *, written: int | None = None
) -> list[ReconcileRow]:
    return reconcile(
        [sub("A", "S1", quantity)],
        ledger=[ledger("A", "S1", 1, halo if written is None else written)],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        halo_licences=[HaloLicence(id=1, client_id=10, name="x", count=halo)],
        rules=rules,
    )


def test_halo_is_compared_with_the_ruled_count_and_the_rule_is_named() -> None:
    (row,) = _one_licence(23, 25, MINIMUM_25)
    assert (row.vendor_quantity, row.ruled_quantity, row.halo_quantity) == (
        Decimal(23),
        Decimal(25),
        Decimal(25),
    )
    assert row.status == "in_step"
    assert row.explain == "vendor 23 \u2192 minimum 25 (service) \u2192 25"
    assert row.why == "HaloPSA 25 = vendor 23 with minimum 25 (service)"
    (stale,) = _one_licence(23, 23, MINIMUM_25)
    assert stale.status == "out_of_date"
    assert stale.why == (
        "the rules bill 25 (vendor 23 with minimum 25 (service)); HaloPSA holds 23"
    )
    (plain,) = _one_licence(23, 23, RuleBook())
    assert (plain.status, plain.ruled_quantity, plain.why) == ("in_step", Decimal(23), "")


def test_free_and_rounding_to_packs_are_named_in_the_order_they_apply() -> None:
    rules = RuleBook(
        workspace=QuantityRule(rounding="up", multiple=5),
        pairs={("A", "S1"): QuantityRule(free=3)},
    )
    (row,) = _one_licence(24, 25, rules)
    assert row.status == "in_step"
    assert row.why == (
        "HaloPSA 25 = vendor 24 with minus 3 free (account \u00d7 service), rounded up to a "
        "multiple of 5 (workspace)"
    )


def test_an_excluded_pair_is_shown_as_excluded_with_its_reason_never_as_drift() -> None:
    rules = RuleBook(accounts={"A": QuantityRule(excluded="internal tenant")})
    # halosync wrote 10; the admin set the record to 0 in HaloPSA after excluding it.
    (row,) = _one_licence(12, 0, rules, written=10)
    assert row.status == "excluded"
    # Neither drift nor out of date (docs/sync.md): every summary counting the flags
    # (CLI, REST, UI) then agrees with the rows, which all say "excluded".
    assert not row.drift
    assert not row.out_of_date
    assert row.ruled_quantity is None
    assert row.excluded == row.why == "excluded from billing: internal tenant (account)"
    assert row.explain == "vendor 12 \u2192 excluded from billing: internal tenant (account)"


def test_an_ended_subscription_bills_0_whatever_the_minimum() -> None:
    rows = reconcile(
        [sub("A", "S1", 7, "cancelled")],
        ledger=[],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        rules=MINIMUM_25,
    )
    (row,) = rows
    assert (row.ruled_quantity, row.status) == (Decimal(0), "in_step")
    assert "the minimum 25 does not apply" in row.explain


@settings(max_examples=120, deadline=None)
@given(quantity=st.integers(min_value=0, max_value=60), rule=quantity_rules())
def test_the_ruled_count_is_what_the_planner_writes(quantity: int, rule: QuantityRule) -> None:
    """One rule: after a sync writes the planner's count, the reconciliation with the same
    rules finds the pair in step (or excluded), never out of date."""
    rules = RuleBook(services={"S1": rule})
    subscription = sub("A", "S1", quantity)
    settings_ = SyncSettings(target="licence", price_mode="off", workspace_key="w" * 16)
    plan = plan_usage_sync(
        [subscription],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        ledger=[],
        settings=settings_,
        rules=rules,
    )
    (change,) = plan.changes
    if rule.excluded is not None:
        assert change.action == "skip"
        (row,) = _one_licence(quantity, 0, rules, written=0)
        assert row.status == "excluded"
        return
    written = int(str(change.after["count"])) if change.action == "create" else None
    if written is None:
        return  # nothing to write (a count of 0 is never created)
    (row,) = _one_licence(quantity, written, rules)
    assert row.ruled_quantity == written
    assert row.status == "in_step"
    # A count the rules changed always names the rule that did.
    assert row.why or written == quantity


def test_a_count_above_the_ceiling_says_it_waits_for_review() -> None:
    rules = RuleBook(services={"S1": QuantityRule(ceiling=40)})
    (waiting,) = _one_licence(45, 30, rules, written=30)
    assert waiting.status == "out_of_date"
    assert waiting.why == (
        "vendor 45 is above the ceiling of 40 (service): held for review; HaloPSA holds 30"
    )
    (approved,) = _one_licence(45, 45, rules)
    assert (approved.status, approved.why) == ("in_step", "")


def test_a_fractional_licence_count_without_rounding_is_skipped_like_the_planner_skips_it() -> None:
    fractional = replace(sub("A", "S1", 0), quantity=Decimal("12.4"))
    targets = {"A": AccountTarget(10)}
    (row,) = reconcile(
        [fractional], ledger=[], account_targets=targets, service_items=ITEMS, target="licence"
    )
    assert (row.status, row.vendor_quantity, row.ruled_quantity) == (
        "skipped",
        Decimal("12.4"),
        Decimal("12.4"),
    )
    skip = fractional_skip(fractional, "licence", None)
    assert skip is not None
    assert row.skipped == skip.reason
    rounded = RuleBook(services={"S1": QuantityRule(rounding="up")})
    (row,) = reconcile(
        [fractional],
        ledger=[],
        account_targets=targets,
        service_items=ITEMS,
        target="licence",
        rules=rounded,
    )
    assert (row.status, row.ruled_quantity) == ("out_of_date", Decimal(13))
    assert row.explain == "vendor 12.4 \u2192 rounded up (service) \u2192 13"
    # An invoice line takes the fraction: nothing to skip.
    invoiced = {"A": AccountTarget(10, recurring_invoice_id=-94)}
    (row,) = reconcile(
        [fractional],
        ledger=[],
        account_targets=invoiced,
        service_items=ITEMS,
        target="invoice_line",
    )
    assert (row.status, row.ruled_quantity) == ("out_of_date", Decimal("12.4"))


_ROWS = st.lists(
    st.builds(
        ReconcileRow,
        account_ref=st.sampled_from(["A", "B"]),
        account_name=st.just(""),
        service_ref=st.sampled_from(["S1", "S2"]),
        service_name=st.just(""),
        halo_client_id=st.none(),
        halo_record_id=st.none(),
        vendor_quantity=st.none(),
        ledger_quantity=st.none(),
        halo_quantity=st.none(),
        drift=st.booleans(),
        out_of_date=st.booleans(),
        duplicates=st.sampled_from([(), (7,), (7, 8)]),
        skipped=st.sampled_from([None, "trial account"]),
        excluded=st.sampled_from([None, "excluded from billing: internal (account)"]),
    ),
    max_size=12,
)


@given(_ROWS)
def test_the_summary_counts_each_flag_and_status_of_the_rows(rows: list[ReconcileRow]) -> None:
    summary = ReconcileSummary.of(rows)
    assert summary.total == len(rows)
    assert summary.drift == len([row for row in rows if row.drift])
    assert summary.out_of_date == len([row for row in rows if row.out_of_date])
    assert summary.duplicate == len([row for row in rows if row.duplicates])
    assert summary.skipped == len([row for row in rows if row.status == "skipped"])
    assert summary.excluded == len([row for row in rows if row.status == "excluded"])
    # Statuses are exclusive: a row's status is counted once at most.
    assert summary.duplicate + summary.excluded + summary.skipped <= summary.total
    assert ReconcileSummary.of(iter(rows)) == summary  # one pass over any iterable


def test_the_summary_of_no_rows_is_all_zero() -> None:
    assert ReconcileSummary.of([]) == ReconcileSummary()


@given(
    vendor=st.integers(min_value=0, max_value=50),
    written=st.integers(min_value=0, max_value=50),
    halo=st.none() | st.integers(min_value=0, max_value=50),
)
def test_a_record_halo_answered_unreadably_is_unread_never_drift_nor_stale(
    vendor: int, written: int, halo: int | None
) -> None:
    """Licence 1 was answered without its id: whatever the counts, its row is 'unread'
    with Halo's words (its count unknown, not missing), and the other row is judged as
    ever."""
    licences = [HaloLicence(id=2, client_id=10, name="x", count=vendor)]
    if halo is not None:
        licences.append(HaloLicence(id=1, client_id=10, name="x", count=halo))
    rows = reconcile(
        [sub("A", "S1", vendor), sub("A", "S2", vendor)],
        ledger=[ledger("A", "S1", 1, written), replace(ledger("A", "S2", 2, vendor), marker="n")],
        account_targets={"A": AccountTarget(10)},
        service_items=ITEMS,
        target="licence",
        halo_licences=licences,
        unread={1: "Halo answered GET /api/SoftwareLicence/1 with an object without an id."},
    )
    by_service = {row.service_ref: row for row in rows}
    unread = by_service["S1"]
    assert (unread.status, unread.drift, unread.out_of_date) == ("unread", False, False)
    assert (unread.unread or "").startswith("Halo answered GET")
    assert by_service["S2"].status == "in_step"
    assert ReconcileSummary.of(rows).unread == 1
