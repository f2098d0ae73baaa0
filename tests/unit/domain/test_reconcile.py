from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.models import AccountTarget, DesiredSubscription, HaloLicence, LedgerRecord
from halosync.domain.reconcile import csv_rows, csv_safe, reconcile, sort_rows
from halosync.domain.skips import deliberate_skip

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
    assert cell.endswith(text)


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
    assert table[0][-3:] == ["duplicates", "skipped", "status"]
    assert table[1][-3:] == ["3", "", "duplicate"]


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
