"""Account and service mappings, the commands: save, remove, suggest and accept (the grids
they are shown in are the read model in :mod:`halosync.mapping.grid`).

Mappings say where future writes go; they never touch Halo. Unmapping or remapping leaves
what was written in Halo where it is, and the ledger (keyed by Halo client) still knows
it. Every function takes the workspace explicitly and runs inside the caller's
transaction, so a batch of mappings is saved whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from halosync.domain.matching import (
    DEFAULT_MIN_SCORE,
    AccountName,
    ClientName,
    Suggestion,
    suggest_mappings,
)
from halosync.errors import Audience, HalosyncError, NotFoundError, ValidationFailedError
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.base import utcnow
from halosync.store.halo_records import HaloRecordRepository
from halosync.store.mappings import MappingRepository, as_if_one_at_a_time
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloRecurringInvoice,
    Service,
    ServiceMapping,
    Workspace,
)
from halosync.store.usage import AccountRepository, ServiceRepository
from halosync.store.workspaces import WorkspaceRepository


@dataclass(frozen=True, slots=True)
class SuggestionOutcome:
    """A suggestion and what accepting it did (``saved`` or why not)."""

    suggestion: Suggestion
    recurring_invoice_id: int | None
    saved: bool
    note: str


def pull_fixes(what: str) -> dict[Audience, str]:
    """How an API caller and a browser user pull Halo's ``what`` (clients, items)."""
    return {
        "api": f"POST /syncs/customers (Sync Organizations) to pull Halo's {what}, then try again.",
        "ui": f"Run Sync Organizations to pull Halo's {what}, then try again.",
    }


def _workspace(session: Session, workspace_id: int) -> Workspace:
    return WorkspaceRepository(session).get(workspace_id)


def _account(session: Session, workspace_id: int, account_ref: str) -> Account:
    account = AccountRepository(session, workspace_id).get_by_ref(account_ref)
    if account is None:
        raise _no_account(account_ref)
    return account


def _no_account(account_ref: str) -> NotFoundError:
    return NotFoundError(
        f"No account with reference {account_ref!r} in this workspace.",
        fix="Import the vendor's data first, or check the reference.",
    )


def _service(session: Session, workspace_id: int, service_ref: str) -> Service:
    service = ServiceRepository(session, workspace_id).get_by_ref(service_ref)
    if service is None:
        raise NotFoundError(
            f"No service with reference {service_ref!r} in this workspace.",
            fix="Import the vendor's data first, or check the reference.",
        )
    return service


def _remove(mappings: MappingRepository, mapping: AccountMapping | ServiceMapping | None) -> bool:
    if mapping is None:
        return False
    mappings.remove(mapping)
    return True


def live_invoices_of(
    session: Session, workspace_id: int, halo_client_id: int
) -> Sequence[HaloRecurringInvoice]:
    """The client's recurring invoices that still exist and are active, by id."""
    return HaloRecordRepository(session, workspace_id).live_invoices_of(halo_client_id)


class _ClientFacts(NamedTuple):
    """What the mapping rules need to know of a Halo client."""

    halo_id: int
    name: str
    gone: bool


def _known_client(client: _ClientFacts | None, halo_client_id: int) -> _ClientFacts:
    if client is None:
        raise NotFoundError(
            f"Halo client {halo_client_id} is not known to this workspace.",
            fix="Run `halosync sync customers` to pull Halo's clients.",
            fixes=pull_fixes("clients"),
        )
    return client


def _mapping_rules(
    target: str,
    client: _ClientFacts,
    holder: str | None,
    live_invoices: Sequence[int],
    requested_invoice: int | None,
) -> int | None:
    """The rules every account mapping obeys, one at a time or a batch at once.

    ``holder`` is the reference of another account the client is mapped to already,
    ``live_invoices`` the ids of the client's active recurring invoices. Returns the
    recurring invoice the mapping keeps, or raises ValidationFailedError saying why not.
    """
    if client.gone:
        raise ValidationFailedError(
            f"Halo client {client.halo_id} ({client.name}) no longer exists in HaloPSA.",
            fix="Pick another client, or run Sync Organizations if it was restored.",
        )
    if holder is not None:
        raise ValidationFailedError(
            f"Halo client {client.halo_id} ({client.name}) is already mapped to account "
            f"{holder!r}; a Halo client can be mapped to one account only.",
            fix=f"Unmap {holder!r} first, or pick another client.",
        )
    # A recurring invoice is required for invoice_line and kept, if given, for licence, so
    # switching the target later needs no remapping.
    if target != "invoice_line" and requested_invoice is None:
        return None
    return _choose_invoice(client, requested_invoice, live_invoices)


def _choose_invoice(client: _ClientFacts, requested: int | None, invoices: Sequence[int]) -> int:
    """The recurring invoice an ``invoice_line`` mapping writes to, or a clear refusal."""
    listed = ", ".join(str(invoice) for invoice in invoices)
    if requested is not None:
        if requested in invoices:
            return requested
        raise ValidationFailedError(
            f"Recurring invoice {requested} is not an active recurring invoice of Halo client "
            f"{client.halo_id} ({client.name}).",
            fix="Pick one of the client's recurring invoices"
            + (f": {listed}." if invoices else "."),
        )
    if not invoices:
        raise ValidationFailedError(
            f"Required: Halo client {client.halo_id} ({client.name}) has no recurring invoice.",
            fix="Create a recurring invoice for the client in HaloPSA, run Sync Organizations, "
            "then map again — or pick another client.",
        )
    if len(invoices) > 1:
        raise ValidationFailedError(
            f"Halo client {client.halo_id} ({client.name}) has {len(invoices)} recurring "
            "invoices; say which one.",
            fix=f"Pass --invoice with one of: {listed}.",
            fixes={
                "api": f"Send recurring_invoice_id with one of: {listed}.",
                "ui": f"Pick one in the row's recurring invoice list: {listed}.",
            },
        )
    return invoices[0]


def map_account(
    session: Session,
    workspace_id: int,
    account_ref: str,
    halo_client_id: int,
    *,
    recurring_invoice_id: int | None = None,
) -> AccountMapping:
    """Map (or remap) an account to a Halo client, 1:1.

    With the ``invoice_line`` target the mapping also needs a recurring invoice of that
    client; when the client has exactly one it is chosen without asking. Made at the same
    time as another mapping, it is answered as if made after it (:func:`as_if_one_at_a_time`).
    """
    return as_if_one_at_a_time(
        session,
        lambda: _map_account(
            session,
            workspace_id,
            account_ref,
            halo_client_id,
            recurring_invoice_id=recurring_invoice_id,
        ),
    )


def _map_account(
    session: Session,
    workspace_id: int,
    account_ref: str,
    halo_client_id: int,
    *,
    recurring_invoice_id: int | None,
) -> AccountMapping:
    workspace = _workspace(session, workspace_id)
    account = _account(session, workspace_id, account_ref)
    client = _known_client(
        _clients_by_halo_id(session, workspace_id, [halo_client_id]).get(halo_client_id),
        halo_client_id,
    )
    mappings = MappingRepository(session, workspace_id)
    holder = mappings.holder(halo_client_id, other_than=account.id)
    invoices = (
        [invoice.halo_id for invoice in live_invoices_of(session, workspace_id, halo_client_id)]
        if workspace.target == "invoice_line" or recurring_invoice_id is not None
        else []
    )
    invoice_id = _mapping_rules(workspace.target, client, holder, invoices, recurring_invoice_id)
    mapping = mappings.of_account(account.id)
    if mapping is None:
        mapping = AccountMapping(
            workspace_id=workspace_id,
            account_id=account.id,
            halo_client_id=halo_client_id,
            recurring_invoice_id=invoice_id,
        )
        mappings.add(mapping)
    elif (mapping.halo_client_id, mapping.recurring_invoice_id) != (halo_client_id, invoice_id):
        mapping.halo_client_id = halo_client_id
        mapping.recurring_invoice_id = invoice_id
        mapping.mapped_at = utcnow()
    refresh_mapping_columns(session, workspace_id, [account.id])
    return mapping


def unmap_account(session: Session, workspace_id: int, account_ref: str) -> bool:
    """Remove an account's mapping; what was written in Halo stays. False if none."""
    account = _account(session, workspace_id, account_ref)
    mappings = MappingRepository(session, workspace_id)
    removed = _remove(mappings, mappings.of_account(account.id))
    refresh_mapping_columns(session, workspace_id, [account.id])
    return removed


def map_service(
    session: Session, workspace_id: int, service_ref: str, halo_item_id: int
) -> ServiceMapping:
    """Map (or remap) a service to a Halo item (at the same time as another mapping: as if
    after it)."""
    return as_if_one_at_a_time(
        session, lambda: _map_service(session, workspace_id, service_ref, halo_item_id)
    )


def _map_service(
    session: Session, workspace_id: int, service_ref: str, halo_item_id: int
) -> ServiceMapping:
    service = _service(session, workspace_id, service_ref)
    item = HaloRecordRepository(session, workspace_id).item(halo_item_id)
    if item is None:
        raise NotFoundError(
            f"Halo item {halo_item_id} is not known to this workspace.",
            fix="Run `halosync sync customers` to pull Halo's items.",
            fixes=pull_fixes("items"),
        )
    if item.gone:
        raise ValidationFailedError(
            f"Halo item {halo_item_id} ({item.name}) no longer exists in HaloPSA.",
            fix="Pick another item.",
        )
    mappings = MappingRepository(session, workspace_id)
    mapping = mappings.of_service(service.id)
    if mapping is None:
        mapping = ServiceMapping(
            workspace_id=workspace_id, service_id=service.id, halo_item_id=halo_item_id
        )
        mappings.add(mapping)
    else:
        mapping.halo_item_id = halo_item_id
    session.flush()
    return mapping


def unmap_service(session: Session, workspace_id: int, service_ref: str) -> bool:
    """Remove a service's mapping. False if it had none."""
    service = _service(session, workspace_id, service_ref)
    mappings = MappingRepository(session, workspace_id)
    return _remove(mappings, mappings.of_service(service.id))


def suggest_account_mappings(
    session: Session, workspace_id: int, *, min_score: int = DEFAULT_MIN_SCORE
) -> list[Suggestion]:
    """Fuzzy-name suggestions for unmapped accounts; saved mappings are never suggested over."""
    accounts = [
        AccountName(account_ref=ref, name=name)
        for ref, name in AccountRepository(session, workspace_id).names()
    ]
    clients = [
        ClientName(halo_client_id=halo_id, name=name, active=not inactive)
        for halo_id, name, inactive in HaloRecordRepository(session, workspace_id).live_clients()
    ]
    already_mapped = MappingRepository(session, workspace_id).clients_by_account_ref()
    return suggest_mappings(accounts, clients, already_mapped, min_score=min_score)


def why_no_suggestions(
    session: Session, workspace_id: int, *, min_score: int = DEFAULT_MIN_SCORE
) -> HalosyncError:
    """Why Suggest Mappings found nothing, and what to do, for every caller (CLI, UI): not
    one sentence covering every case, which told a workspace whose Sync Organizations
    never pulled a client that its accounts were mapped or matched nothing."""
    if not HaloRecordRepository(session, workspace_id).live_clients():
        return HalosyncError(
            "No suggestions: no Halo clients have been pulled into this workspace yet, so "
            "there is nothing to match its accounts to.",
            fix="Run `halosync sync customers` (Sync Organizations) to pull Halo's clients, "
            "then suggest again; if it stopped, `halosync runs list` says why.",
            fixes=pull_fixes("clients"),
        )
    accounts = {ref for ref, _name in AccountRepository(session, workspace_id).names()}
    if not accounts:
        return HalosyncError(
            "No suggestions: the workspace has no accounts yet.",
            fix="Import usage first (`halosync import FILE`).",
            fixes={"api": "Send usage first (POST /usage).", "ui": "Import usage first."},
        )
    if accounts <= set(MappingRepository(session, workspace_id).clients_by_account_ref()):
        return HalosyncError("No suggestions: every account is mapped.")
    return HalosyncError(
        "No suggestions: no Halo client's name is close enough to an unmapped account's "
        f"(a score of {min_score} or more).",
        fix="Map the remaining accounts by hand (`halosync map account REF CLIENT_ID`), or "
        "lower --min-score.",
        fixes={
            "api": "Map the remaining accounts by hand (PUT /mappings/accounts/{account_ref}), "
            "or send a lower min_score.",
            "ui": "Map the remaining accounts by hand on the account mapping page.",
        },
    )


def _clients_by_halo_id(
    session: Session, workspace_id: int, halo_ids: Iterable[int]
) -> dict[int, _ClientFacts]:
    return {
        halo_id: _ClientFacts(halo_id, name, gone)
        for halo_id, (name, gone) in HaloRecordRepository(session, workspace_id)
        .clients_by_halo_id(halo_ids)
        .items()
    }


@dataclass(frozen=True, slots=True)
class ChosenMapping:
    """An account and the Halo client a person picked for it (a ticked row of Suggest
    Mappings' page: the suggested client, or another typed in the row)."""

    account_ref: str
    halo_client_id: int


@dataclass(frozen=True, slots=True)
class ChosenOutcome:
    """A chosen mapping and what saving it did: saved, or ``why_not``."""

    chosen: ChosenMapping
    account_name: str
    recurring_invoice_id: int | None
    why_not: HalosyncError | None = None

    @property
    def saved(self) -> bool:
        """True when the mapping was saved."""
        return self.why_not is None

    def note_for(self, audience: Audience) -> str:
        """ "saved", or why not as ``audience`` reads it."""
        return "saved" if self.why_not is None else self.why_not.text_for(audience)


@dataclass(slots=True)
class _Batch:
    """Mappings saved as a batch by ``map_account``'s rules, checked against what the
    database held plus what the batch took before; :meth:`write` is one INSERT."""

    workspace_id: int
    target: str
    accounts: dict[str, tuple[int, str]]
    mapped_accounts: set[int]
    clients: dict[int, _ClientFacts]
    holders: dict[int, str]
    live_invoices: dict[int, list[int]]
    rows: list[dict[str, Any]]

    @classmethod
    def read(
        cls, session: Session, workspace_id: int, account_refs: list[str], halo_ids: list[int]
    ) -> _Batch:
        """What the batch needs to know of these accounts and clients, read in chunks."""
        target = _workspace(session, workspace_id).target
        mappings = MappingRepository(session, workspace_id)
        accounts = AccountRepository(session, workspace_id).ids_and_names_by_ref(account_refs)
        live_invoices: dict[int, list[int]] = {}
        if target == "invoice_line":
            live_invoices = HaloRecordRepository(session, workspace_id).live_invoice_ids(halo_ids)
        return cls(
            workspace_id=workspace_id,
            target=target,
            accounts=accounts,
            mapped_accounts=mappings.mapped_account_ids(i for i, _ in accounts.values()),
            clients=_clients_by_halo_id(session, workspace_id, halo_ids),
            holders=mappings.holders(halo_ids),
            live_invoices=live_invoices,
            rows=[],
        )

    def account(self, account_ref: str) -> tuple[int, str]:
        """The account's id and name; an unknown reference refuses the whole batch."""
        found = self.accounts.get(account_ref)
        if found is None:
            raise _no_account(account_ref)
        return found

    def take(self, account_ref: str, account_id: int, client: _ClientFacts) -> int | None:
        """Add the mapping to the batch; returns its recurring invoice, or raises
        ValidationFailedError saying why ``map_account`` would refuse it."""
        invoice_id = _mapping_rules(
            self.target,
            client,
            self.holders.get(client.halo_id),
            self.live_invoices.get(client.halo_id, []),
            None,
        )
        self.mapped_accounts.add(account_id)
        self.holders[client.halo_id] = account_ref
        self.rows.append(
            {
                "workspace_id": self.workspace_id,
                "account_id": account_id,
                "halo_client_id": client.halo_id,
                "recurring_invoice_id": invoice_id,
            }
        )
        return invoice_id

    def write(self, session: Session) -> None:
        """One INSERT of every mapping taken, then the accounts' mapping columns."""
        now = utcnow()
        rows = [row | {"mapped_at": now} for row in self.rows]
        MappingRepository(session, self.workspace_id).insert_account_mappings(rows)
        if rows:
            refresh_mapping_columns(session, self.workspace_id, [row["account_id"] for row in rows])


def accept_suggestions(
    session: Session, workspace_id: int, suggestions: Iterable[Suggestion]
) -> list[SuggestionOutcome]:
    """Save the given suggestions as mappings, each one that can be.

    A suggestion that cannot be saved (a tie at its score between several clients, the
    client has no recurring invoice for the ``invoice_line`` target, or several to choose
    from) is reported, not saved; the others
    are. An account mapped meanwhile is left as it is. The rules are ``map_account``'s,
    checked against what the database held plus what this batch saved before, and every
    saved mapping is written by one INSERT; an unknown account or Halo client saves nothing.
    Accepted at the same time as another mapping is made, as if after it.
    """
    wanted = list(suggestions)
    return as_if_one_at_a_time(session, lambda: _accept_suggestions(session, workspace_id, wanted))


def _accept_suggestions(
    session: Session, workspace_id: int, wanted: list[Suggestion]
) -> list[SuggestionOutcome]:
    batch = _Batch.read(
        session,
        workspace_id,
        [s.account_ref for s in wanted],
        [s.halo_client_id for s in wanted],
    )
    refused = "required" if batch.target == "invoice_line" else "refused"
    outcomes: list[SuggestionOutcome] = []
    for suggestion in wanted:
        account_id, _name = batch.account(suggestion.account_ref)
        if account_id in batch.mapped_accounts:
            outcomes.append(
                SuggestionOutcome(suggestion, None, saved=False, note="already mapped; kept")
            )
            continue
        if suggestion.tie:
            note = (
                f"not saved: {suggestion.tie_note}; map it by hand: halosync map account "
                f"{suggestion.account_ref} <client id>"
            )
            outcomes.append(SuggestionOutcome(suggestion, None, saved=False, note=note))
            continue
        client_id = suggestion.halo_client_id
        client = _known_client(batch.clients.get(client_id), client_id)
        try:
            invoice_id = batch.take(suggestion.account_ref, account_id, client)
        except ValidationFailedError as refusal:
            outcomes.append(
                SuggestionOutcome(suggestion, None, saved=False, note=f"{refused}: {refusal}")
            )
            continue
        outcomes.append(SuggestionOutcome(suggestion, invoice_id, saved=True, note="saved"))
    batch.write(session)
    return outcomes


def save_chosen_mappings(
    session: Session, workspace_id: int, chosen: Iterable[ChosenMapping]
) -> list[ChosenOutcome]:
    """Save the mappings a person chose (the ticked rows of Suggest Mappings' page), each
    one that can be, without suggesting again.

    Each is checked by ``map_account``'s rules against what the database held plus what
    this batch saved before; one that breaks them (the client gone, mapped to another
    account, not known to the workspace, without the recurring invoice ``invoice_line``
    needs) is reported, not saved. An account mapped meanwhile is left as it is; an
    unknown account saves nothing. Every saved mapping is written by one INSERT, as if
    after any mapping made at the same time.
    """
    wanted = list(chosen)
    return as_if_one_at_a_time(session, lambda: _save_chosen(session, workspace_id, wanted))


def _save_chosen(
    session: Session, workspace_id: int, wanted: list[ChosenMapping]
) -> list[ChosenOutcome]:
    batch = _Batch.read(
        session,
        workspace_id,
        [c.account_ref for c in wanted],
        [c.halo_client_id for c in wanted],
    )
    outcomes: list[ChosenOutcome] = []
    for choice in wanted:
        account_id, name = batch.account(choice.account_ref)
        if account_id in batch.mapped_accounts:
            kept = HalosyncError("already mapped; kept")
            outcomes.append(ChosenOutcome(choice, name, None, kept))
            continue
        try:
            client_id = choice.halo_client_id
            client = _known_client(batch.clients.get(client_id), client_id)
            invoice_id = batch.take(choice.account_ref, account_id, client)
        except (NotFoundError, ValidationFailedError) as why:
            outcomes.append(ChosenOutcome(choice, name, None, why))
            continue
        outcomes.append(ChosenOutcome(choice, name, invoice_id))
    batch.write(session)
    return outcomes
