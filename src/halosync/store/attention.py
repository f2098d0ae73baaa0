"""What may make billing go silently wrong, read for the attention e-mail
(:func:`halosync.notify.messages.attention_items` words it)."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    Subscription,
)


def unmapped_billable_accounts(session: Session, workspace_id: int) -> list[str]:
    """References of billed, non-trial accounts with usage but no mapping, by reference."""
    return list(
        session.scalars(
            select(Account.ref)
            .where(
                Account.workspace_id == workspace_id,
                Account.billed.is_(True),
                Account.status != "trial",
                exists().where(Subscription.account_id == Account.id, Subscription.quantity > 0),
                ~exists().where(AccountMapping.account_id == Account.id),
            )
            .order_by(Account.ref)
        )
    )


def mapped_to_dead_clients(session: Session, workspace_id: int) -> list[tuple[str, str, int, bool]]:
    """(account ref, Halo client name, id, gone) of mappings to a client gone or inactive."""
    return [
        (ref, name, halo_id, gone)
        for ref, name, halo_id, gone in session.execute(
            select(Account.ref, HaloClient.name, HaloClient.halo_id, HaloClient.gone)
            .join(AccountMapping, AccountMapping.account_id == Account.id)
            .join(
                HaloClient,
                (HaloClient.workspace_id == AccountMapping.workspace_id)
                & (HaloClient.halo_id == AccountMapping.halo_client_id),
            )
            .where(
                AccountMapping.workspace_id == workspace_id,
                HaloClient.gone | HaloClient.inactive,
            )
            .order_by(Account.ref)
        )
    ]


def mapped_to_dead_invoices(session: Session, workspace_id: int) -> list[tuple[str, int, bool]]:
    """(account ref, recurring invoice id, gone) of mappings to an invoice gone or inactive."""
    return [
        (ref, halo_id, gone)
        for ref, halo_id, gone in session.execute(
            select(Account.ref, HaloRecurringInvoice.halo_id, HaloRecurringInvoice.gone)
            .join(AccountMapping, AccountMapping.account_id == Account.id)
            .join(
                HaloRecurringInvoice,
                (HaloRecurringInvoice.workspace_id == AccountMapping.workspace_id)
                & (HaloRecurringInvoice.halo_id == AccountMapping.recurring_invoice_id),
            )
            .where(
                AccountMapping.workspace_id == workspace_id,
                HaloRecurringInvoice.gone | HaloRecurringInvoice.inactive,
            )
            .order_by(Account.ref)
        )
    ]
