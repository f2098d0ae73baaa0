"""Reading what the planner needs from the store: desired state, mappings and the ledger."""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

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
from halosync.store.database import Database
from halosync.store.models import Account, LedgerEntry, Subscription, Workspace
from halosync.store.scratch import SortedIds
from halosync.store.sync_inputs import (
    LedgerRow,
    account_page,
    accounts_on_invoices,
    ledger_naming,
    ledger_of_accounts,
    ledger_places,
    mapped_places,
    mappings_of,
    service_items,
    subscriptions_of,
)
from halosync.sync.halo_state import LedgerFacts
from halosync.sync.ledger import KnownRow, LedgerKey, earlier_records, sent_update

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
    ledger_known: dict[int, KnownRow] = field(default_factory=dict)
    """ledger_entry.id -> what the row held as loaded."""
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
        unlisted=row.unlisted,
    )


def load_chunk(
    session: Session,
    workspace_id: int,
    settings: SyncSettings,
    service_items: dict[str, int],
    accounts: Sequence[int],
    rules: RuleBook = EMPTY_RULE_BOOK,
) -> SyncInputs:
    """One chunk's subscriptions, mappings and ledger rows (those of its own accounts);
    ``rules``: the run's quantity rules."""
    subs = subscriptions_of(session, workspace_id, accounts)
    inputs = SyncInputs(
        settings=settings,
        subscriptions=[_desired(row) for row in subs],
        account_targets={},
        service_items=service_items,
        ledger=[],
        rules=rules,
    )
    for sub_row in subs:
        inputs.account_ids[sub_row.account.ref] = sub_row.account_id
        inputs.service_ids[sub_row.service.ref] = sub_row.service_id
    for mapped in mappings_of(session, workspace_id, accounts):
        client, invoice = mapped.client, mapped.invoice
        inputs.account_targets[mapped.account_ref] = AccountTarget(
            halo_client_id=mapped.halo_client_id,
            recurring_invoice_id=mapped.recurring_invoice_id,
            client_active=not (client.inactive if client else False),
            client_gone=client.gone if client else False,
            recurring_invoice_gone=bool(invoice.gone) if invoice else False,
            halo_client_name=client.name if client else "",
        )
    _add_ledger(inputs, ledger_of_accounts(session, workspace_id, accounts))
    return inputs


def add_ledger_naming(
    session: Session,
    workspace_id: int,
    inputs: SyncInputs,
    record_ids: Collection[int],
    accounts: Collection[int],
) -> None:
    """Add the ledger rows of other accounts than ``accounts`` that name these records."""
    target = inputs.settings.target
    _add_ledger(inputs, ledger_naming(session, workspace_id, target, record_ids, besides=accounts))


def _add_ledger(inputs: SyncInputs, rows: Iterable[LedgerRow]) -> None:
    target = inputs.settings.target
    for entry, account_ref, service_ref in rows:
        inputs.ledger.append(ledger_record(entry, account_ref, service_ref))
        if entry.target == target:
            key = (account_ref, service_ref, entry.halo_client_id, entry.apart_term)
            inputs.ledger_ids[key] = entry.id
            inputs.ledger_known[entry.id] = KnownRow(
                entry.halo_record_id, entry.last_quantity, entry.state, bool(entry.unconfirmed)
            )
        inputs.account_ids.setdefault(account_ref, entry.account_id)
        inputs.service_ids.setdefault(service_ref, entry.service_id)


@dataclass(frozen=True)
class RunScope:
    """What one usage sync reads besides its chunks; small whatever the workspace's size
    (ids as sorted arrays)."""

    settings: SyncSettings
    service_items: dict[str, int]
    clients: Collection[int]
    """The clients whose licences the plan compares with: mapped or named by the ledger."""
    invoices: Collection[int]
    """The mapped recurring invoices (whose lines the plan compares with)."""
    licence_ledger: LedgerFacts
    earlier_records: frozenset[int]
    rules: RuleBook = EMPTY_RULE_BOOK
    """The quantity rules in force on the run's date (every chunk plans with them)."""
    account: tuple[int, str] | None = None
    """The one account of a per-account sync."""
    one_client: int | None = None


def load_scope(
    session: Session, workspace: Workspace, account_id: int | None, *, on_date: date | None = None
) -> RunScope:
    """The run's settings, services, quantity rules in force on ``on_date`` (the run's day:
    today, UTC) and the places whose Halo records it reads."""
    ws = workspace.id
    settings = sync_settings(workspace)
    items = service_items(session, ws)
    rules = rule_book(session, ws, on_date or today())
    earlier = (
        # Only licence list rows may lack the marker; invoice lines always carry theirs.
        earlier_records(session, ws, settings.target)
        if settings.target == "licence"
        else frozenset()
    )
    if account_id is not None:
        account = session.get(Account, account_id)
        assert account is not None
        mapped = mappings_of(session, ws, [account_id])
        client = mapped[0].halo_client_id if mapped else None
        invoice = mapped[0].recurring_invoice_id if mapped else None
        rows = [
            (client_id, record_id, state)
            for target, client_id, record_id, state in ledger_places(
                session, ws, account_id=account_id
            )
            if target == "licence"
        ]
        one: set[int] = {client} if client is not None else set()
        return RunScope(
            settings,
            items,
            clients=one,
            invoices={invoice} if invoice else set(),
            licence_ledger=LedgerFacts.of(rows, one),
            earlier_records=earlier,
            rules=rules,
            account=(account_id, account.ref),
            one_client=client,
        )
    # Ids as arrays (8 bytes each): a workspace of 100,000 pairs must not hold sets of them.
    clients: array[int] = array("q")
    invoices: array[int] = array("q")
    for client_id, invoice_id in mapped_places(session, ws):
        clients.append(client_id)
        if invoice_id is not None:
            invoices.append(invoice_id)

    def licence_rows() -> Iterator[tuple[int, int | None, str]]:
        for target, client_id, record_id, state in ledger_places(session, ws):
            clients.append(client_id)
            if target == "licence":
                yield client_id, record_id, state

    # Every row's client is read (the scope is the mapped and the ledger's clients).
    facts = LedgerFacts.of(licence_rows(), None)
    return RunScope(
        settings,
        items,
        clients=SortedIds(clients),
        invoices=SortedIds(invoices),
        licence_ledger=facts,
        earlier_records=earlier,
        rules=rules,
    )


def account_chunks(
    database: Database, workspace_id: int, scope: RunScope, size: int
) -> Iterator[list[int]]:
    """The run's accounts, ``size`` at a time by reference; accounts sharing a recurring
    invoice come in one chunk (the lines one of them claims, the others must see)."""
    if scope.account is not None:
        yield [scope.account[0]]
        return
    after: str | None = None
    ahead: set[int] = set()
    while True:
        with database.session() as session:
            page = account_page(session, workspace_id, after, size)
            if not page:
                return
            after = page[-1][1]
            chunk = [account_id for account_id, _ in page if account_id not in ahead]
            if scope.settings.target == "invoice_line":
                chunk += _sharing_invoices(session, workspace_id, chunk, ahead)
        if chunk:
            yield chunk


def _sharing_invoices(
    session: Session, workspace_id: int, chunk: list[int], ahead: set[int]
) -> list[int]:
    """Accounts outside ``chunk`` mapped to one of its recurring invoices (rare: each
    account maps its own client's invoice), taken into it; ``ahead`` remembers them."""
    members = set(chunk)
    invoices = {m.recurring_invoice_id for m in mappings_of(session, workspace_id, chunk)}
    invoices.discard(None)
    added: list[int] = []
    while invoices:
        sharing = accounts_on_invoices(session, workspace_id, invoices)  # type: ignore[arg-type]
        new = [account_id for account_id, _ in sharing if account_id not in members | ahead]
        if not new:
            break
        members.update(new)
        ahead.update(new)
        added += new
        invoices = {m.recurring_invoice_id for m in mappings_of(session, workspace_id, new)}
        invoices.discard(None)
    return added


def load_inputs(
    session: Session, workspace: Workspace, account_id: int | None, *, on_date: date | None = None
) -> SyncInputs:
    """Every subscription, mapping and ledger row of the workspace (of one account when
    given) at once, with the quantity rules in force on ``on_date`` (today, UTC): for the
    reconciliation report, which compares them all."""
    settings = sync_settings(workspace)
    ws = workspace.id
    if account_id is not None:
        accounts = [account_id]
    else:
        accounts = [account for account, _ in account_page(session, ws, None, None)]
    rules = rule_book(session, ws, on_date or today())
    inputs = load_chunk(session, ws, settings, service_items(session, ws), accounts, rules)
    if settings.target == "licence":
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
        run_id=entry.last_run_id,
        unconfirmed=sent_update(entry.unconfirmed),
    )
