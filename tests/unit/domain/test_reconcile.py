from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.models import AccountTarget, DesiredSubscription, HaloLicence, LedgerRecord
from halosync.domain.reconcile import csv_rows, csv_safe, reconcile, sort_rows


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
        ("B", "S1"): (False, True),
    }
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
        target="licence",
    )
    assert row.drift
    assert row.halo_quantity is None


def test_csv_neutralises_formulas() -> None:
    rows = reconcile([sub("A", "S1", 5)], ledger=[], account_targets={}, target="licence")
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
    assert table[0][-2:] == ["duplicates", "status"]
    assert table[1][-2:] == ["3", "duplicate"]
