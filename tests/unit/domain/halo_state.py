"""An in-memory picture of Halo records and the ledger, for executing plans in tests.

It applies a plan's payloads the way the simulator documents HaloPSA's POST (create
without id, update merges the given fields) and reads records back through the same
adapters the sync engine uses, so a test can check that re-planning finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from halosync.domain.models import (
    HaloInvoiceLine,
    HaloLicence,
    LedgerRecord,
    Plan,
    PlannedChange,
)
from halosync.halopsa.billing import (
    halo_body,
    invoice_line_from_halo,
    licence_from_halo,
    read_invoice,
    read_invoice_line,
)
from halosync.halopsa.models import RecurringInvoice


@dataclass
class HaloState:
    """Licences and recurring-invoice lines as JSON objects, plus halosync's ledger."""

    licences: dict[int, dict[str, Any]] = field(default_factory=dict)
    lines: dict[int, dict[str, Any]] = field(default_factory=dict)
    ledger: list[LedgerRecord] = field(default_factory=list)
    next_id: int = 1000
    invoice_clients: dict[int, int] = field(default_factory=dict)
    """Recurring invoice id -> the client HaloPSA says it belongs to (unset: not known)."""

    def halo_licences(self) -> list[HaloLicence]:
        return [licence_from_halo(record) for record in self.licences.values()]

    def halo_lines(self) -> list[HaloInvoiceLine]:
        return [
            invoice_line_from_halo(
                read_invoice_line(rec),
                int(rec["ihid"]),
                self._invoice(int(rec["ihid"])),
            )
            for rec in self.lines.values()
        ]

    def _invoice(self, invoice_id: int) -> RecurringInvoice | None:
        client = self.invoice_clients.get(invoice_id)
        if client is None:
            return None
        return read_invoice({"id": invoice_id, "client_id": client, "client_name": f"C{client}"})

    def apply(self, plan: Plan, *, record_ledger: bool = True) -> None:
        """Execute every write of ``plan`` and record the ledger rows a real run would."""
        for change in plan.changes:
            if change.action not in ("create", "update", "unchanged"):
                continue
            if change.action == "unchanged" and not change.adopted:
                if change.takes_over is not None and record_ledger:
                    self._rekey(change)
                continue
            store = self.licences if change.target == "licence" else self.lines
            if change.action == "create":
                assert change.write is not None
                self.next_id += 1
                halo_id = self.next_id
                store[halo_id] = {"id": halo_id, **halo_body(change.write)}
            else:
                assert change.halo_id is not None
                halo_id = change.halo_id
                if change.action == "update":
                    assert change.write is not None
                    store[halo_id].update(halo_body(change.write))
            if not record_ledger:
                continue
            assert change.target is not None
            assert change.halo_client_id is not None
            assert change.marker is not None
            self.ledger = [
                row
                for row in self.ledger
                if not (
                    (row.account_ref, row.service_ref) == (change.account_ref, change.service_ref)
                    and row.apart_term in (change.apart_term, change.takes_over)
                    and row.halo_client_id == change.halo_client_id
                    and row.target == change.target
                )
            ]
            quantity = store[halo_id].get("count", store[halo_id].get("qty_order"))
            self.ledger.append(
                LedgerRecord(
                    account_ref=change.account_ref,
                    service_ref=change.service_ref,
                    target=change.target,
                    halo_client_id=change.halo_client_id,
                    recurring_invoice_id=change.recurring_invoice_id,
                    halo_record_id=halo_id,
                    state="written",
                    marker=change.marker,
                    quantity=None if quantity is None else Decimal(str(quantity)),
                    apart_term=change.apart_term,
                )
            )

    def _rekey(self, change: PlannedChange) -> None:
        """An unchanged record taken over by another term: its row is kept under it now."""
        self.ledger = [
            replace(row, apart_term=change.apart_term)
            if (row.account_ref, row.service_ref, row.apart_term, row.halo_client_id)
            == (change.account_ref, change.service_ref, change.takes_over, change.halo_client_id)
            and row.target == change.target
            else row
            for row in self.ledger
        ]
