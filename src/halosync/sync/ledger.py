"""Writing the ledger: what halosync wrote where in Halo, per account × service.

A create first commits a ``pending`` row carrying the marker, then writes to Halo, then
commits the Halo id as ``written``; so whatever happens in between, the next run knows
to look for the marker before creating anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from halosync.domain.halo_values import halo_decimal, json_fields
from halosync.domain.models import PlannedChange, SentUpdate, Target
from halosync.store.ledger import LedgerRepository

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


def _quantity(value: Any) -> Decimal | None:
    """A quantity as Halo holds it (a licence's whole count, a line's ``qty_order`` as a
    double), at Halo's 4 places: 2.5000000001 is 2.5, and a line's 2.5 is never cut to 2."""
    if value is None:
        return None
    return halo_decimal(value)


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class KnownRow(NamedTuple):
    """What a ledger row held when the run loaded it."""

    halo_id: int | None
    quantity: Decimal | None
    state: str
    unconfirmed: bool
    """It keeps an update sent by a run that never recorded Halo's answer."""


LedgerKey = tuple[str, str, int, str]
"""A ledger row's key in a run: account_ref, service_ref, Halo client id and the term of a
record kept apart (``""`` for the pair's one record)."""

WRITE_CHUNK = 500
"""Ledger rows per statement group."""


@dataclass(frozen=True)
class _RowValues:
    """The columns one ledger write sets; ``marker`` None keeps the stored one."""

    state: str
    halo_record_id: int | None
    marker: str | None
    recurring_invoice_id: int | None
    last_run_id: int
    written: Written | None = None
    at: datetime | None = None

    def columns(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "state": self.state,
            "halo_record_id": self.halo_record_id,
            "recurring_invoice_id": self.recurring_invoice_id,
            "last_run_id": self.last_run_id,
            # Whatever the row records now, no update sent before waits for its answer.
            "unconfirmed": None,
        }
        if self.written is not None:
            values |= {
                "last_quantity": _quantity(self.written.quantity),
                "last_price": _money(self.written.price),
                "last_cost_price": _money(self.written.cost),
                "last_written_at": self.at,
            }
        return values


class LedgerBook:
    """Ledger rows of one workspace and target, keyed by account, service and Halo client.

    Every write takes a whole batch: one query finds which of the batch's rows still exist,
    one INSERT adds the missing ones and one UPDATE (executemany) sets the rest, so a
    batch costs the same few statements whatever its size (a per-row look-up and flush
    once cost a 20,000-pair sync most of its CPU).
    """

    def __init__(
        self,
        workspace_id: int,
        target: Target,
        ids: dict[LedgerKey, int],
        account_ids: dict[str, int],
        service_ids: dict[str, int],
    ) -> None:
        self.workspace_id = workspace_id
        self.target = target
        self.ids = ids
        self.account_ids = account_ids
        self.service_ids = service_ids

    @staticmethod
    def _key(change: PlannedChange) -> LedgerKey:
        assert change.halo_client_id is not None
        return (change.account_ref, change.service_ref, change.halo_client_id, change.apart_term)

    def _moves(self, change: PlannedChange) -> bool:
        """Whether ``change`` takes over a row kept under another term (to re-key it)."""
        return change.takes_over is not None and self._key(change) not in self.ids

    def _row(self, change: PlannedChange) -> int | None:
        """The id of the ledger row ``change`` writes: its own, or the one it takes over."""
        row_id = self.ids.get(self._key(change))
        if row_id is None and change.takes_over is not None:
            assert change.halo_client_id is not None
            old = (change.account_ref, change.service_ref, change.halo_client_id, change.takes_over)
            row_id = self.ids.get(old)
        return row_id

    def mark_pending(self, session: Session, changes: Sequence[PlannedChange], run_id: int) -> None:
        """Before creates: each marker is recorded, the old (gone) record id forgotten."""
        self._write(
            session,
            [
                (
                    change,
                    _RowValues("pending", None, change.marker, change.recurring_invoice_id, run_id),
                )
                for change in changes
            ],
        )

    def mark_sending(
        self,
        session: Session,
        updates: Sequence[PlannedChange],
        run_id: int,
        request_id: str | None,
    ) -> None:
        """Before a POST that updates: what each update sends, on its ledger row (one
        statement), so a run killed before recording the answer leaves it for the next run
        (:class:`~halosync.domain.models.SentUpdate`). An update of a record no row names
        yet (a line taken over) has nowhere to keep it."""
        rows: list[dict[str, Any]] = []
        for change in updates:
            row_id = self._row(change)
            if row_id is None:
                continue
            sent = {
                "run": run_id,
                "request": request_id,
                "before": json_fields(change.before),
                "after": json_fields(change.after),
            }
            rows.append(
                {"row_id": row_id, "new_marker": None, "unconfirmed": sent, "last_run_id": run_id}
            )
        LedgerRepository(session, self.workspace_id, self.target).update_rows(rows)

    def mark_written(
        self,
        session: Session,
        writes: Sequence[tuple[PlannedChange, Written]],
        run_id: int,
        at: datetime,
    ) -> None:
        """After writes (or checks that found Halo right): the ids and values held now."""
        self._write(
            session,
            [
                (
                    change,
                    _RowValues(
                        "written",
                        written.halo_id,
                        change.marker,
                        change.recurring_invoice_id,
                        run_id,
                        written,
                        at,
                    ),
                )
                for change, written in writes
            ],
        )

    def _write(self, session: Session, rows: Sequence[tuple[PlannedChange, _RowValues]]) -> None:
        # Bounded chunks keep every statement under the databases' parameter limits
        # (SQLite: 32,766), even for a run that refreshes 100,000 unchanged rows at once.
        for start in range(0, len(rows), WRITE_CHUNK):
            self._write_chunk(session, rows[start : start + WRITE_CHUNK])

    def _write_chunk(
        self, session: Session, rows: Sequence[tuple[PlannedChange, _RowValues]]
    ) -> None:
        ledger = LedgerRepository(session, self.workspace_id, self.target)
        found = {
            index: row_id for index, (change, _) in enumerate(rows) if (row_id := self._row(change))
        }
        known = set(found.values())
        # Rows this book knew of may have gone meanwhile (an account unmapped and its
        # ledger cleared): those are added again rather than updated into thin air.
        alive = ledger.alive(known)
        updates: list[dict[str, Any]] = []
        inserts: list[tuple[LedgerKey, dict[str, Any]]] = []
        for index, (change, values) in enumerate(rows):
            key = self._key(change)
            row_id = found.get(index)
            if row_id is not None and row_id in alive:
                # A row taken over (the terms rule changed) is kept under its new term.
                updates.append(
                    {"row_id": row_id, "new_marker": values.marker or None}
                    | values.columns()
                    | {"apart_term": change.apart_term}
                )
                self.ids[key] = row_id
                continue
            inserts.append(
                (
                    key,
                    {
                        "workspace_id": self.workspace_id,
                        "account_id": self.account_ids[change.account_ref],
                        "service_id": self.service_ids[change.service_ref],
                        "target": self.target,
                        "halo_client_id": change.halo_client_id,
                        "apart_term": change.apart_term,
                        "marker": values.marker or "",
                    }
                    | values.columns(),
                )
            )
        # Every row of one call sets the same columns (pending ones, or written ones).
        ledger.update_rows(updates)
        new_ids = ledger.insert_rows([row for _, row in inserts])
        for key, row in inserts:
            new_id = new_ids.get(
                (row["account_id"], row["service_id"], row["halo_client_id"], row["apart_term"])
            )
            if new_id is not None:
                self.ids[key] = new_id

    def needs_refresh(
        self, change: PlannedChange, written: Written, known: dict[int, KnownRow]
    ) -> bool:
        """Whether an unchanged pair's ledger row is missing, out of step with Halo, or still
        keeps an update sent whose answer was never recorded (writing the row clears it:
        left, every later run would find that update again)."""
        row_id = self._row(change)
        if row_id is None or row_id not in known or self._moves(change):
            return True
        row = known[row_id]
        return (
            row.state != "written"
            or row.unconfirmed
            or row.halo_id != written.halo_id
            or row.quantity != _quantity(written.quantity)
        )


def sent_update(stored: dict[str, Any] | None) -> SentUpdate | None:
    """A ledger row's ``unconfirmed`` column as the planner reads it."""
    if not stored:
        return None
    return SentUpdate(int(stored["run"]), stored.get("request"), stored["before"], stored["after"])


def earlier_records(session: Session, workspace_id: int, target: Target) -> frozenset[int]:
    """Halo records halosync created (per the audit trail) that no ledger row names now.

    Normally records since deleted in Halo; any still there is a second record carrying
    a pair's marker, which a sync must find even when Halo's list rows omit the marker.
    After a first sync of 100,000 pairs both sides hold 100,000 ids: they are read in id
    order and merged as they stream, so neither is held (and no NOT EXISTS runs without
    an index on the record id).
    """
    return LedgerRepository(session, workspace_id, target).earlier_records(AUDIT_ENTITY[target])
