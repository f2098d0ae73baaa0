"""The reconciliation report: vendor count vs. what halosync wrote vs. what Halo holds now.

Drift means someone changed the count in HaloPSA after halosync wrote it; skipped means
halosync leaves the pair alone on purpose (trial, not billed, account or service not
mapped: :mod:`halosync.domain.skips`, the planner's rule); out of date means HaloPSA does
not hold the vendor's (billable) count, which the next sync fixes;
duplicate means more than one HaloPSA record carries the pair's halosync tag, so the
customer may be billed twice until an admin removes the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Literal

from halosync.domain.duplicates import licence_duplicates, line_duplicates
from halosync.domain.halo_values import same_value
from halosync.domain.models import (
    ENDED_SUBSCRIPTION_STATUSES,
    AccountTarget,
    DesiredSubscription,
    HaloInvoiceLine,
    HaloLicence,
    LedgerRecord,
    Target,
)
from halosync.domain.skips import deliberate_skip

SortKey = Literal[
    "account_ref", "service_ref", "vendor_quantity", "ledger_quantity", "halo_quantity", "drift"
]
RowStatus = Literal["duplicate", "drift", "skipped", "out_of_date", "in_step"]
"""A row's state, the most urgent first: several records billed, changed in Halo, left
alone on purpose, stale."""
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One account × service: the three counts side by side and what differs."""

    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    halo_client_id: int | None
    halo_record_id: int | None
    vendor_quantity: Decimal | None
    ledger_quantity: Decimal | None
    halo_quantity: Decimal | None
    drift: bool
    out_of_date: bool
    duplicates: tuple[int, ...] = ()
    """Other HaloPSA records carrying this pair's halosync tag beside ``halo_record_id``."""
    skipped: str | None = None
    """Why halosync leaves the pair alone on purpose (then it is not out of date)."""

    @property
    def status(self) -> RowStatus:
        """The row's state, the most urgent first."""
        if self.duplicates:
            return "duplicate"
        if self.drift:
            return "drift"
        if self.skipped is not None:
            return "skipped"
        return "out_of_date" if self.out_of_date else "in_step"


def reconcile(
    subscriptions: Iterable[DesiredSubscription],
    *,
    ledger: Iterable[LedgerRecord],
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
    target: Target,
    halo_licences: Iterable[HaloLicence] = (),
    halo_invoice_lines: Iterable[HaloInvoiceLine] = (),
) -> list[ReconcileRow]:
    """Rows for every subscription and every ledger record, ordered by account, service.

    The vendor quantity is the billable one (0 for an ended subscription or a cancelled
    account); a record deleted in Halo has no Halo quantity and counts as drift.
    """
    subs = {sub.key: sub for sub in subscriptions}
    ledger = list(ledger)
    halo_licences = list(halo_licences)
    halo_invoice_lines = list(halo_invoice_lines)
    licences = {lic.id: Decimal(lic.count) for lic in halo_licences if not lic.deleted}
    lines = {line.id: line.quantity for line in halo_invoice_lines}
    halo_quantities = licences if target == "licence" else lines
    twins = (
        licence_duplicates(halo_licences, ledger)
        if target == "licence"
        else line_duplicates(halo_invoice_lines, ledger)
    )
    ledger_by_pair: dict[tuple[str, str], LedgerRecord] = {}
    for record in ledger:
        if record.target != target:
            continue
        mapped = account_targets.get(record.account_ref)
        key = (record.account_ref, record.service_ref)
        current = mapped is not None and mapped.halo_client_id == record.halo_client_id
        if current or key not in ledger_by_pair:
            ledger_by_pair[key] = record
    rows: list[ReconcileRow] = []
    for key in sorted(set(subs) | set(ledger_by_pair)):
        sub = subs.get(key)
        found = ledger_by_pair.get(key)
        mapped = account_targets.get(key[0])
        vendor = _billable(sub)
        record_id = found.halo_record_id if found else None
        halo = halo_quantities.get(record_id) if record_id is not None else None
        ledger_quantity = found.quantity if found and found.state == "written" else None
        drift = ledger_quantity is not None and (
            halo is None or not same_value(halo, ledger_quantity)
        )
        skip = deliberate_skip(sub, account_targets, service_items) if sub else None
        out_of_date = (
            skip is None
            and vendor is not None
            and (
                (halo is None and vendor != 0)
                or (halo is not None and not same_value(halo, vendor))
            )
        )
        group = None
        if found is not None and record_id is not None:
            place = found.halo_client_id if target == "licence" else found.recurring_invoice_id
            group = twins.get((place or 0, found.marker))
        rows.append(
            ReconcileRow(
                account_ref=key[0],
                account_name=sub.account_name if sub else "",
                service_ref=key[1],
                service_name=sub.service_name if sub else "",
                halo_client_id=found.halo_client_id
                if found
                else (mapped.halo_client_id if mapped else None),
                halo_record_id=record_id,
                vendor_quantity=vendor,
                ledger_quantity=ledger_quantity,
                halo_quantity=halo,
                drift=drift,
                out_of_date=out_of_date,
                duplicates=group.others if group and group.kept == record_id else (),
                skipped=skip.reason if skip else None,
            )
        )
    return rows


def _billable(sub: DesiredSubscription | None) -> Decimal | None:
    if sub is None:
        return None
    if sub.status in ENDED_SUBSCRIPTION_STATUSES or sub.account_status == "cancelled":
        return Decimal(0)
    return sub.quantity


def sort_rows(
    rows: Sequence[ReconcileRow], key: SortKey, *, descending: bool = False
) -> list[ReconcileRow]:
    """``rows`` ordered by ``key``; blanks always last, ties by account then service."""
    present = [row for row in rows if getattr(row, key) is not None]
    blank = [row for row in rows if getattr(row, key) is None]
    tie = sorted(present, key=lambda row: (row.account_ref, row.service_ref))
    ordered = sorted(tie, key=lambda row: getattr(row, key), reverse=descending)
    return ordered + sorted(blank, key=lambda row: (row.account_ref, row.service_ref))


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (leading ``'`` when it could)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


CSV_HEADER: tuple[str, ...] = (*(f.name for f in fields(ReconcileRow)), "status")


def csv_rows(rows: Iterable[ReconcileRow]) -> list[list[str]]:
    """The header and one list of safe cells per row, ready for ``csv.writer``."""
    table = [list(CSV_HEADER)]
    for row in rows:
        table.append([csv_safe(_cell(getattr(row, name))) for name in CSV_HEADER])
    return table


def _cell(value: object) -> object:
    if isinstance(value, tuple):
        return " ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value
