"""What Sync Organizations writes into the cache of Halo records, a page of ids at a time.

A pull of 100,000 clients reads and writes them in pages: the cached rows of one page of
Halo ids, the ids still taken to exist streamed, and the rows no read returned marked
gone by id. Which record is created, updated or gone is decided in
:mod:`halosync.sync.customers`; this is only the SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from halosync.store.models import HaloClient, HaloItem, HaloRecurringInvoice

PulledModel = type[HaloClient] | type[HaloItem] | type[HaloRecurringInvoice]
PULLED_MODELS: dict[str, PulledModel] = {
    "clients": HaloClient,
    "items": HaloItem,
    "recurring_invoices": HaloRecurringInvoice,
}
"""Kind of Halo record a pull reads -> its cache table."""

_IN = 2000
"""Ids per ``IN (...)``: under every database's parameter limit."""


def cached_rows(
    session: Session, model: PulledModel, workspace_id: int, halo_ids: Collection[int]
) -> dict[int, Any]:
    """Halo id -> the cached row, for those of ``halo_ids`` cached (gone or not)."""
    ordered = sorted(halo_ids)
    found: dict[int, Any] = {}
    for start in range(0, len(ordered), _IN):
        part = ordered[start : start + _IN]
        rows: list[Any] = list(
            session.scalars(
                select(model).where(model.workspace_id == workspace_id, model.halo_id.in_(part))
            )
        )
        found.update((row.halo_id, row) for row in rows)
    return found


def live_ids(session: Session, model: PulledModel, workspace_id: int) -> Iterator[int]:
    """The Halo ids of the cached records still taken to exist, streamed in id order."""
    yield from session.scalars(
        select(model.halo_id)
        .where(model.workspace_id == workspace_id, ~model.gone)
        .order_by(model.halo_id)
        .execution_options(yield_per=5000)
    )


def mark_gone(
    session: Session, model: PulledModel, workspace_id: int, halo_ids: Collection[int]
) -> None:
    """Mark these cached records gone (Halo no longer has them)."""
    ordered = sorted(halo_ids)
    for start in range(0, len(ordered), _IN):
        session.execute(
            update(model)
            .where(
                model.workspace_id == workspace_id,
                model.halo_id.in_(ordered[start : start + _IN]),
            )
            .values(gone=True)
        )
