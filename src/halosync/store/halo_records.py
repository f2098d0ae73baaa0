"""Halo clients, items and recurring invoices as Sync Organizations last saw them, read by
the mapping rules and forgotten by the connection's reset. What a pull writes, and what
"still in Halo" means, is :mod:`halosync.store.halo_pull`'s; this is only the reads and the
reset's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from halosync.store.base import in_chunks
from halosync.store.halo_pull import still_in_halo
from halosync.store.models import HaloClient, HaloItem, HaloRecurringInvoice

_MAPPABLE_INVOICE = (
    still_in_halo(HaloRecurringInvoice),
    HaloRecurringInvoice.inactive.is_(False),
)
"""A recurring invoice an account can be mapped to: still in Halo (the pull's rule) and
active, a narrower rule than the pull's, which keeps an inactive invoice as it is."""


class HaloRecordRepository:
    """One workspace's cached Halo records."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def delete_all(self) -> int:
        """Forget every cached record (the connection's reset); how many there were."""
        removed = 0
        for model in (HaloRecurringInvoice, HaloClient, HaloItem):
            result = self.session.execute(
                delete(model).where(model.workspace_id == self.workspace_id)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        return removed

    def clients_by_halo_id(self, halo_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
        """Halo id -> (name, gone) of the cached clients among ``halo_ids``."""
        found: dict[int, tuple[str, bool]] = {}
        for chunk in in_chunks(halo_ids):
            for halo_id, name, gone in self.session.execute(
                select(HaloClient.halo_id, HaloClient.name, HaloClient.gone).where(
                    HaloClient.workspace_id == self.workspace_id, HaloClient.halo_id.in_(chunk)
                )
            ):
                found[halo_id] = (name, bool(gone))
        return found

    def live_clients(self) -> list[tuple[int, str, bool]]:
        """(Halo id, name, inactive) of every client still in Halo."""
        return [
            (halo_id, name, bool(inactive))
            for halo_id, name, inactive in self.session.execute(
                select(HaloClient.halo_id, HaloClient.name, HaloClient.inactive).where(
                    HaloClient.workspace_id == self.workspace_id, still_in_halo(HaloClient)
                )
            )
        ]

    def item(self, halo_id: int) -> HaloItem | None:
        """The cached item with this Halo id, gone or not."""
        return self.session.scalar(
            select(HaloItem).where(
                HaloItem.workspace_id == self.workspace_id, HaloItem.halo_id == halo_id
            )
        )

    def live_invoices_of(self, halo_client_id: int) -> Sequence[HaloRecurringInvoice]:
        """The client's recurring invoices that still exist and are active, by id."""
        return self.session.scalars(
            select(HaloRecurringInvoice)
            .where(
                HaloRecurringInvoice.workspace_id == self.workspace_id,
                HaloRecurringInvoice.halo_client_id == halo_client_id,
                *_MAPPABLE_INVOICE,
            )
            .order_by(HaloRecurringInvoice.halo_id)
        ).all()

    def live_invoice_ids(self, halo_client_ids: Iterable[int]) -> dict[int, list[int]]:
        """Halo client id -> ids of its active recurring invoices, by id (clients with none
        are missing)."""
        found: dict[int, list[int]] = {}
        for chunk in in_chunks(halo_client_ids):
            for client_id, invoice_id in self.session.execute(
                select(HaloRecurringInvoice.halo_client_id, HaloRecurringInvoice.halo_id)
                .where(
                    HaloRecurringInvoice.workspace_id == self.workspace_id,
                    HaloRecurringInvoice.halo_client_id.in_(chunk),
                    *_MAPPABLE_INVOICE,
                )
                .order_by(HaloRecurringInvoice.halo_id)
            ):
                found.setdefault(client_id, []).append(invoice_id)
        return found
