"""Writing the ledger: what halosync wrote where in Halo, per account × service.

A create first commits a ``pending`` row carrying the marker, then writes to Halo, then
commits the Halo id as ``written``; so whatever happens in between, the next run knows
to look for the marker before creating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.domain.models import PlannedChange, Target
from halosync.store.models import AuditEntry, LedgerEntry

AUDIT_ENTITY: dict[Target, str] = {
    "licence": "SoftwareLicence",
    "invoice_line": "RecurringInvoiceLine",
}
"""The ``entity`` of the audit entries of each target's writes."""


@dataclass(frozen=True)
class Written:
    """What Halo holds for a record right after halosync wrote (or checked) it."""

    halo_id: int
    quantity: Any
    price: Any
    cost: Any


def _int_quantity(value: Any) -> int | None:
    if value is None:
        return None
    return int(Decimal(str(value)).to_integral_value())


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class LedgerBook:
    """Ledger rows of one workspace and target, keyed by account, service and Halo client."""

    def __init__(
        self,
        workspace_id: int,
        target: Target,
        ids: dict[tuple[str, str, int], int],
        account_ids: dict[str, int],
        service_ids: dict[str, int],
    ) -> None:
        self.workspace_id = workspace_id
        self.target = target
        self.ids = ids
        self.account_ids = account_ids
        self.service_ids = service_ids

    def _row(self, session: Session, change: PlannedChange) -> LedgerEntry:
        assert change.halo_client_id is not None
        key = (change.account_ref, change.service_ref, change.halo_client_id)
        existing = self.ids.get(key)
        if existing is not None:
            row = session.get(LedgerEntry, existing)
            if row is not None:
                return row
        row = LedgerEntry(
            workspace_id=self.workspace_id,
            account_id=self.account_ids[change.account_ref],
            service_id=self.service_ids[change.service_ref],
            target=self.target,
            halo_client_id=change.halo_client_id,
            state="pending",
            marker=change.marker or "",
        )
        session.add(row)
        session.flush()
        self.ids[key] = row.id
        return row

    def mark_pending(self, session: Session, change: PlannedChange, run_id: int) -> None:
        """Before a create: the marker is recorded, the old (gone) record id forgotten."""
        row = self._row(session, change)
        row.state = "pending"
        row.halo_record_id = None
        row.marker = change.marker or row.marker
        row.recurring_invoice_id = change.recurring_invoice_id
        row.last_run_id = run_id

    def mark_written(
        self,
        session: Session,
        change: PlannedChange,
        written: Written,
        run_id: int,
        at: datetime,
    ) -> None:
        """After a write (or a check that found Halo right): the id and values held now."""
        row = self._row(session, change)
        row.state = "written"
        row.halo_record_id = written.halo_id
        row.marker = change.marker or row.marker
        row.recurring_invoice_id = change.recurring_invoice_id
        row.last_quantity = _int_quantity(written.quantity)
        row.last_price = _money(written.price)
        row.last_cost_price = _money(written.cost)
        row.last_written_at = at
        row.last_run_id = run_id

    def needs_refresh(
        self,
        change: PlannedChange,
        written: Written,
        known: dict[int, tuple[int | None, int | None, str]],
    ) -> bool:
        """Whether an unchanged pair's ledger row is missing or out of step with Halo."""
        assert change.halo_client_id is not None
        key = (change.account_ref, change.service_ref, change.halo_client_id)
        row_id = self.ids.get(key)
        if row_id is None or row_id not in known:
            return True
        halo_id, quantity, state = known[row_id]
        return (
            state != "written"
            or halo_id != written.halo_id
            or quantity != _int_quantity(written.quantity)
        )


def earlier_records(session: Session, workspace_id: int, target: Target) -> frozenset[int]:
    """Halo records halosync created (per the audit trail) that no ledger row names now.

    Normally records since deleted in Halo; any still there is a second record carrying
    a pair's marker, which a sync must find even when Halo's list rows omit the marker.
    """
    created = session.scalars(
        select(AuditEntry.halo_record_id)
        .where(
            AuditEntry.workspace_id == workspace_id,
            AuditEntry.entity == AUDIT_ENTITY[target],
            AuditEntry.operation == "create",
            AuditEntry.halo_record_id.is_not(None),
        )
        .distinct()
    )
    named = session.scalars(
        select(LedgerEntry.halo_record_id).where(
            LedgerEntry.workspace_id == workspace_id,
            LedgerEntry.target == target,
            LedgerEntry.halo_record_id.is_not(None),
        )
    )
    return frozenset(record_id for record_id in created if record_id is not None) - set(named)
