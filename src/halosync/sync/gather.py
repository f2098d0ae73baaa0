"""Reading what the planner needs from the store: desired state, mappings and the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.domain.models import (
    SUBSCRIPTION_STATUSES,
    AccountStatus,
    AccountTarget,
    DesiredSubscription,
    LedgerRecord,
    PriceMode,
    SubscriptionStatus,
    SyncSettings,
    Target,
)
from halosync.domain.rules import EMPTY_RULE_BOOK, RuleBook
from halosync.rules.service import rule_book, today
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    LedgerEntry,
    Service,
    ServiceMapping,
    Subscription,
    Workspace,
)
from halosync.store.usage import SubscriptionRepository
from halosync.sync.ledger import LedgerKey, earlier_records

_STATUS_WORDS: dict[str, SubscriptionStatus] = {
    "pendingcancel": "active",
    "terminated": "cancelled",
    "canceled": "cancelled",
    "inactive": "suspended",
    "ended": "expired",
}


def subscription_status(text: str | None) -> SubscriptionStatus:
    """The vendor's free-text status read as one of ours; blank or unknown means active."""
    if not text or not text.strip():
        return "active"
    word = text.strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    for status in SUBSCRIPTION_STATUSES:
        if word == status:
            return status
    return _STATUS_WORDS.get(word, "active")


def workspace_key(workspace: Workspace) -> str:
    """What makes markers unique to this workspace, stable for its whole life."""
    return f"{workspace.id}:{workspace.created_at.isoformat()}"


def sync_settings(workspace: Workspace) -> SyncSettings:
    """The workspace settings the planner reads."""
    target: Target = "invoice_line" if workspace.target == "invoice_line" else "licence"
    price_mode: PriceMode = (
        workspace.price_mode if workspace.price_mode in ("totals", "unit") else "off"  # type: ignore[assignment]
    )
    return SyncSettings(
        target=target,
        price_mode=price_mode,
        adopt_existing_lines=workspace.adopt_existing_lines,
        workspace_key=workspace_key(workspace),
    )


@dataclass
class SyncInputs:
    """Everything from the store one usage sync plans with, plus the ids to write back."""

    settings: SyncSettings
    subscriptions: list[DesiredSubscription]
    account_targets: dict[str, AccountTarget]
    service_items: dict[str, int]
    ledger: list[LedgerRecord]
    account_ids: dict[str, int] = field(default_factory=dict)
    service_ids: dict[str, int] = field(default_factory=dict)
    ledger_ids: dict[LedgerKey, int] = field(default_factory=dict)
    """(account_ref, service_ref, halo_client_id, apart_term) -> ledger_entry.id for this
    target."""
    ledger_known: dict[int, tuple[int | None, int | None, str]] = field(default_factory=dict)
    """ledger_entry.id -> (halo_record_id, last_quantity, state) as loaded."""
    earlier_records: frozenset[int] = frozenset()
    """Records of this target halosync created that no ledger row names any more."""
    rules: RuleBook = EMPTY_RULE_BOOK
    """The quantity rules in force on the run's date (every plan of the run uses them)."""


def _desired(row: Subscription) -> DesiredSubscription:
    account, service = row.account, row.service
    status: AccountStatus = account.status  # type: ignore[assignment]
    return DesiredSubscription(
        account_ref=account.ref,
        account_name=account.name,
        account_status=status,
        billed=account.billed,
        service_ref=service.ref,
        service_name=service.name,
        quantity=Decimal(row.quantity),
        start_date=row.start_date,
        end_date=row.end_date,
        billing_cycle=row.billing_cycle or None,
        term=row.term or None,
        status=subscription_status(row.status),
        cost_price=row.cost_price,
        customer_price=row.customer_price,
    )


def load_inputs(
    session: Session, workspace: Workspace, account_id: int | None, *, on_date: date | None = None
) -> SyncInputs:
    """Read the workspace's subscriptions (of one account when given), mappings, ledger and
    the quantity rules in force on ``on_date`` (the run's day: today, UTC)."""
    settings = sync_settings(workspace)
    ws = workspace.id
    subs = SubscriptionRepository(session, ws).all(account_id=account_id)
    inputs = SyncInputs(
        settings=settings,
        subscriptions=[_desired(row) for row in subs],
        account_targets={},
        service_items={},
        ledger=[],
        rules=rule_book(session, ws, on_date or today()),
    )
    for sub_row in subs:
        inputs.account_ids[sub_row.account.ref] = sub_row.account_id
        inputs.service_ids[sub_row.service.ref] = sub_row.service_id
    clients = {
        row.halo_id: row
        for row in session.scalars(select(HaloClient).where(HaloClient.workspace_id == ws))
    }
    invoices = {
        row.halo_id: row
        for row in session.scalars(
            select(HaloRecurringInvoice).where(HaloRecurringInvoice.workspace_id == ws)
        )
    }
    mapping_query = (
        select(AccountMapping, Account.ref)
        .join(Account, Account.id == AccountMapping.account_id)
        .where(AccountMapping.workspace_id == ws)
    )
    if account_id is not None:
        mapping_query = mapping_query.where(AccountMapping.account_id == account_id)
    for mapping, ref in session.execute(mapping_query):
        client = clients.get(mapping.halo_client_id)
        invoice = (
            invoices.get(mapping.recurring_invoice_id)
            if mapping.recurring_invoice_id is not None
            else None
        )
        inputs.account_targets[ref] = AccountTarget(
            halo_client_id=mapping.halo_client_id,
            recurring_invoice_id=mapping.recurring_invoice_id,
            client_active=not (client.inactive if client else False),
            client_gone=client.gone if client else False,
            recurring_invoice_gone=bool(invoice.gone) if invoice else False,
            halo_client_name=client.name if client else "",
        )
    for item_id, ref in session.execute(
        select(ServiceMapping.halo_item_id, Service.ref)
        .join(Service, Service.id == ServiceMapping.service_id)
        .where(ServiceMapping.workspace_id == ws)
    ):
        inputs.service_items[ref] = item_id
    ledger_query = (
        select(LedgerEntry, Account.ref, Service.ref)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(Service, Service.id == LedgerEntry.service_id)
        .where(LedgerEntry.workspace_id == ws)
    )
    if account_id is not None:
        ledger_query = ledger_query.where(LedgerEntry.account_id == account_id)
    for entry, account_ref, service_ref in session.execute(ledger_query):
        inputs.ledger.append(ledger_record(entry, account_ref, service_ref))
        if entry.target == settings.target:
            key = (account_ref, service_ref, entry.halo_client_id, entry.apart_term)
            inputs.ledger_ids[key] = entry.id
            inputs.ledger_known[entry.id] = (entry.halo_record_id, entry.last_quantity, entry.state)
        inputs.account_ids.setdefault(account_ref, entry.account_id)
        inputs.service_ids.setdefault(service_ref, entry.service_id)
    if settings.target == "licence":
        # Only licence list rows may lack the marker; invoice lines always carry theirs.
        inputs.earlier_records = earlier_records(session, ws, settings.target)
    return inputs


def ledger_record(entry: LedgerEntry, account_ref: str, service_ref: str) -> LedgerRecord:
    """A stored ledger row as the planner's :class:`LedgerRecord`."""
    target: Target = "invoice_line" if entry.target == "invoice_line" else "licence"
    return LedgerRecord(
        account_ref=account_ref,
        service_ref=service_ref,
        target=target,
        halo_client_id=entry.halo_client_id,
        recurring_invoice_id=entry.recurring_invoice_id,
        halo_record_id=entry.halo_record_id,
        state="written" if entry.state == "written" else "pending",
        marker=entry.marker,
        quantity=Decimal(entry.last_quantity) if entry.last_quantity is not None else None,
        written_at=entry.last_written_at,
        apart_term=entry.apart_term,
    )
