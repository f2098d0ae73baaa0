"""What Sync Organizations writes into the cache of Halo records, a page of ids at a time.

A pull of 100,000 clients reads and writes them in pages: the cached rows of one page of
Halo ids, the ids still taken to exist streamed, and the rows no read returned marked
gone by id. Which record is created, updated or gone is decided in
:mod:`halosync.sync.customers`; this is only the SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from halosync.store.base import BULK_IN_CHUNK, in_chunks
from halosync.store.models import HaloClient, HaloItem, HaloRecurringInvoice

PulledModel = type[HaloClient] | type[HaloItem] | type[HaloRecurringInvoice]
PULLED_MODELS: dict[str, PulledModel] = {
    "clients": HaloClient,
    "items": HaloItem,
    "recurring_invoices": HaloRecurringInvoice,
}
"""Kind of Halo record a pull reads -> its cache table."""


def cached_rows(
    session: Session, model: PulledModel, workspace_id: int, halo_ids: Collection[int]
) -> dict[int, Any]:
    """Halo id -> the cached row, for those of ``halo_ids`` cached (gone or not)."""
    found: dict[int, Any] = {}
    for part in in_chunks(halo_ids, BULK_IN_CHUNK):
        rows: list[Any] = list(
            session.scalars(
                select(model).where(model.workspace_id == workspace_id, model.halo_id.in_(part))
            )
        )
        found.update((row.halo_id, row) for row in rows)
    return found


def still_in_halo(model: PulledModel) -> ColumnElement[bool]:
    """A cached record the last pull still read (not marked gone), whatever its state in
    Halo (an inactive client or recurring invoice is still there): the one rule of the
    pull and of the reads of :mod:`halosync.store.halo_records`."""
    return ~model.gone


def live_ids(session: Session, model: PulledModel, workspace_id: int) -> Iterator[int]:
    """The Halo ids of the cached records still taken to exist, streamed in id order."""
    yield from session.scalars(
        select(model.halo_id)
        .where(model.workspace_id == workspace_id, still_in_halo(model))
        .order_by(model.halo_id)
        .execution_options(yield_per=5000)
    )


def mark_gone(
    session: Session, model: PulledModel, workspace_id: int, halo_ids: Collection[int]
) -> None:
    """Mark these cached records gone (Halo no longer has them)."""
    for part in in_chunks(halo_ids, BULK_IN_CHUNK):
        session.execute(
            update(model)
            .where(model.workspace_id == workspace_id, model.halo_id.in_(part))
            .values(gone=True)
        )


def mark_inactive(session: Session, workspace_id: int, halo_ids: Collection[int]) -> list[int]:
    """Mark these cached clients inactive, as Halo says they are now (the usage sync's read
    of Halo's inactive clients, after the last pull); returns the ids of those the cache
    took as active until now."""
    changed: list[int] = []
    for part in in_chunks(halo_ids, BULK_IN_CHUNK):
        now_inactive = list(
            session.scalars(
                select(HaloClient.halo_id).where(
                    HaloClient.workspace_id == workspace_id,
                    HaloClient.halo_id.in_(part),
                    ~HaloClient.inactive,
                    still_in_halo(HaloClient),
                )
            )
        )
        if now_inactive:
            session.execute(
                update(HaloClient)
                .where(
                    HaloClient.workspace_id == workspace_id,
                    HaloClient.halo_id.in_(now_inactive),
                )
                .values(inactive=True)
            )
        changed += now_inactive
    return changed
