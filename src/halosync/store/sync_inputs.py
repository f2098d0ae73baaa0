"""What a usage sync reads from the store, one chunk of accounts at a time.

A sync of 100,000 pairs reads its accounts in pages (by reference), and for each chunk
only that chunk's subscriptions, mappings and ledger rows, plus the ledger rows of other
accounts that name the chunk's Halo records (an account remapped since: its old records
still carry its rows). What spans the whole run stays small: ids as sorted arrays.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from halosync.store.base import BULK_IN_CHUNK, in_chunks
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    LedgerEntry,
    Service,
    ServiceMapping,
    Subscription,
)
from halosync.store.usage import SubscriptionRepository


def account_page(
    session: Session, workspace_id: int, after_ref: str | None, size: int | None
) -> list[tuple[int, str]]:
    """The next ``size`` accounts ``(id, ref)`` by reference after ``after_ref`` (all of
    them with ``size`` None)."""
    query = select(Account.id, Account.ref).where(Account.workspace_id == workspace_id)
    if after_ref is not None:
        query = query.where(Account.ref > after_ref)
    rows = session.execute(query.order_by(Account.ref).limit(size))
    return [(account_id, ref) for account_id, ref in rows]


def accounts_on_invoices(
    session: Session, workspace_id: int, invoice_ids: Collection[int]
) -> list[tuple[int, str]]:
    """Accounts ``(id, ref)`` mapped to any of these recurring invoices."""
    found: list[tuple[int, str]] = []
    for part in in_chunks(invoice_ids, BULK_IN_CHUNK):
        found += [
            (account_id, ref)
            for account_id, ref in session.execute(
                select(Account.id, Account.ref)
                .join(AccountMapping, AccountMapping.account_id == Account.id)
                .where(
                    AccountMapping.workspace_id == workspace_id,
                    AccountMapping.recurring_invoice_id.in_(part),
                )
            )
        ]
    return found


def subscriptions_of(
    session: Session, workspace_id: int, account_ids: Collection[int]
) -> list[Subscription]:
    """The subscriptions of these accounts with their account and service."""
    rows: list[Subscription] = []
    repository = SubscriptionRepository(session, workspace_id)
    for part in in_chunks(account_ids, BULK_IN_CHUNK):
        rows += repository.all(account_ids=part)
    return rows


@dataclass(frozen=True)
class MappedAccount:
    """One account's mapping, with the cached Halo client and recurring invoice it names."""

    account_id: int
    account_ref: str
    halo_client_id: int
    recurring_invoice_id: int | None
    client: HaloClient | None
    invoice: HaloRecurringInvoice | None


def mappings_of(
    session: Session, workspace_id: int, account_ids: Collection[int]
) -> list[MappedAccount]:
    """The mappings of these accounts, with their cached client and invoice rows."""
    found: list[MappedAccount] = []
    for part in in_chunks(account_ids, BULK_IN_CHUNK):
        rows = session.execute(
            select(AccountMapping, Account.ref)
            .join(Account, Account.id == AccountMapping.account_id)
            .where(AccountMapping.workspace_id == workspace_id, AccountMapping.account_id.in_(part))
        ).all()
        client_ids = sorted({m.halo_client_id for m, _ in rows})
        invoice_ids = sorted(
            {m.recurring_invoice_id for m, _ in rows if m.recurring_invoice_id is not None}
        )
        clients = {
            row.halo_id: row
            for row in session.scalars(
                select(HaloClient).where(
                    HaloClient.workspace_id == workspace_id, HaloClient.halo_id.in_(client_ids)
                )
            )
        }
        invoices = {
            row.halo_id: row
            for row in session.scalars(
                select(HaloRecurringInvoice).where(
                    HaloRecurringInvoice.workspace_id == workspace_id,
                    HaloRecurringInvoice.halo_id.in_(invoice_ids),
                )
            )
        }
        found += [
            MappedAccount(
                mapping.account_id,
                ref,
                mapping.halo_client_id,
                mapping.recurring_invoice_id,
                clients.get(mapping.halo_client_id),
                invoices.get(mapping.recurring_invoice_id)
                if mapping.recurring_invoice_id is not None
                else None,
            )
            for mapping, ref in rows
        ]
    return found


def service_items(session: Session, workspace_id: int) -> dict[str, int]:
    """Service reference -> the Halo item it is mapped to."""
    return {
        ref: item_id
        for item_id, ref in session.execute(
            select(ServiceMapping.halo_item_id, Service.ref)
            .join(Service, Service.id == ServiceMapping.service_id)
            .where(ServiceMapping.workspace_id == workspace_id)
        )
    }


LedgerRow = tuple[LedgerEntry, str, str]
"""A ledger row with its account and service references."""


def _ledger_query(workspace_id: int) -> Select[LedgerEntry, str, str]:
    return (
        select(LedgerEntry, Account.ref, Service.ref)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(Service, Service.id == LedgerEntry.service_id)
        .where(LedgerEntry.workspace_id == workspace_id)
    )


def ledger_of_accounts(
    session: Session, workspace_id: int, account_ids: Collection[int]
) -> list[LedgerRow]:
    """Every ledger row (any target) of these accounts."""
    rows: list[LedgerRow] = []
    for part in in_chunks(account_ids, BULK_IN_CHUNK):
        query = _ledger_query(workspace_id).where(LedgerEntry.account_id.in_(part))
        rows += [(entry, account, service) for entry, account, service in session.execute(query)]
    return rows


def ledger_naming(
    session: Session,
    workspace_id: int,
    target: str,
    record_ids: Collection[int],
    *,
    besides: Collection[int],
) -> list[LedgerRow]:
    """The ledger rows of ``target`` naming any of these Halo records, but those of the
    accounts ``besides`` (already read)."""
    rows: list[LedgerRow] = []
    skip = set(besides)
    for part in in_chunks(record_ids, BULK_IN_CHUNK):
        query = _ledger_query(workspace_id).where(
            LedgerEntry.target == target, LedgerEntry.halo_record_id.in_(part)
        )
        rows += [
            (entry, account, service)
            for entry, account, service in session.execute(query)
            if entry.account_id not in skip
        ]
    return rows


def mapped_places(session: Session, workspace_id: int) -> Iterator[tuple[int, int | None]]:
    """``(halo_client_id, recurring_invoice_id)`` of every account mapping, streamed."""
    rows = session.execute(
        select(AccountMapping.halo_client_id, AccountMapping.recurring_invoice_id)
        .where(AccountMapping.workspace_id == workspace_id)
        .execution_options(yield_per=5000)
    )
    yield from rows


def ledger_places(
    session: Session, workspace_id: int, *, account_id: int | None = None
) -> Iterator[tuple[str, int, int | None, str]]:
    """``(target, halo_client_id, halo_record_id, state)`` of every ledger row (of one
    account when given), streamed."""
    query = select(
        LedgerEntry.target,
        LedgerEntry.halo_client_id,
        LedgerEntry.halo_record_id,
        LedgerEntry.state,
    ).where(LedgerEntry.workspace_id == workspace_id)
    if account_id is not None:
        query = query.where(LedgerEntry.account_id == account_id)
    yield from session.execute(query.execution_options(yield_per=5000))


__all__: Sequence[str] = (
    "LedgerRow",
    "MappedAccount",
    "account_page",
    "accounts_on_invoices",
    "ledger_naming",
    "ledger_of_accounts",
    "ledger_places",
    "mapped_places",
    "mappings_of",
    "service_items",
    "subscriptions_of",
)
