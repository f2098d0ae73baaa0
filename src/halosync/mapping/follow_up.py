"""Map an account and follow up: one rule for the CLI, the REST API and the web UI.

Some vendors create the Halo licences when a client is mapped rather than at the next
scheduled sync (the workspace setting "create licences on mapping"). The follow-up is a
usage sync *queued* through the same jobs facade as Sync Now, whoever mapped: the
one-sync-per-workspace rule, the cooldown of an all-accounts sync, the ledger and the
dry-run rules hold for it as for any sync. (The CLI, which has no server beside it, then
consumes its own run from the embedded queue and reports how it ended.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from halosync.domain.matching import Suggestion
from halosync.errors import NotFoundError
from halosync.jobs.queue import JobQueue, QueueUnavailableError
from halosync.jobs.service import CooldownError, request_sync
from halosync.mapping.grid import AccountMappingRow, account_mapping_row
from halosync.mapping.service import (
    ChosenMapping,
    ChosenOutcome,
    SuggestionOutcome,
    accept_suggestions,
    map_account,
    save_chosen_mappings,
)
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.errors import SyncInProgressError


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What mapping started: a sentence for the user, and the queued run (None when the
    sync was refused and the next one creates the licences)."""

    text: str
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class MappedAccount:
    """An account just mapped: its grid row (found by its reference) and the follow-up."""

    row: AccountMappingRow
    follow_up: FollowUp | None


@dataclass(frozen=True, slots=True)
class AcceptedSuggestions:
    """Suggestions accepted: what each did, and the one follow-up for those saved."""

    outcomes: list[SuggestionOutcome]
    follow_up: FollowUp | None

    @property
    def saved(self) -> int:
        """How many suggestions were saved as mappings."""
        return sum(1 for outcome in self.outcomes if outcome.saved)


@dataclass(frozen=True, slots=True)
class SavedChoices:
    """Chosen mappings saved: what each did, and the one follow-up for those saved."""

    outcomes: list[ChosenOutcome]
    follow_up: FollowUp | None

    @property
    def saved(self) -> int:
        """How many chosen mappings were saved."""
        return sum(1 for outcome in self.outcomes if outcome.saved)


def creates_licences_on_mapping(database: Database, workspace_id: int) -> bool:
    """True when mapping an account should create its licences now (licence target only)."""
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        return workspace.create_licence_on_mapping and workspace.target == "licence"


def follow_up_mapped(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    account_refs: Iterable[str],
) -> FollowUp | None:
    """Queue the usage sync that creates the newly mapped accounts' licences, if asked to.

    One account gets a sync of that account; several (accepted suggestions) get one sync of
    all accounts. None when the setting is off. A sync already running, a cooldown or a
    queue that cannot take the run is reported rather than raised (the mapping is saved):
    the next sync creates the licences then.
    """
    refs = sorted(set(account_refs))
    if not refs or not creates_licences_on_mapping(database, workspace_id):
        return None
    only = refs[0] if len(refs) == 1 else None
    whose = f"the licences of {only}" if only else f"the licences of {len(refs)} accounts"
    try:
        run_id = request_sync(
            database,
            settings,
            queue,
            workspace_id,
            kind="usage",
            account_ref=only,
            trigger="manual",
        )
    except (SyncInProgressError, CooldownError, QueueUnavailableError) as refused:
        return FollowUp(f"{refused} — {whose} will be created by the next sync.")
    return FollowUp(f"Creating {whose} in HaloPSA (run {run_id}).", run_id)


def map_account_and_follow_up(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    account_ref: str,
    halo_client_id: int,
    *,
    recurring_invoice_id: int | None = None,
) -> MappedAccount:
    """Map (or remap) an account to a Halo client, then follow up (:func:`follow_up_mapped`).

    The mapping is saved in its own transaction before anything is queued; its row is read
    back by the account's reference, never by searching the grid.
    """
    with database.session() as session:
        map_account(
            session,
            workspace_id,
            account_ref,
            halo_client_id,
            recurring_invoice_id=recurring_invoice_id,
        )
    with database.session() as session:
        row = account_mapping_row(session, workspace_id, account_ref)
    if row is None:  # removed by an import in between
        raise NotFoundError(f"No account with reference {account_ref!r} in this workspace.")
    follow_up = follow_up_mapped(database, settings, queue, workspace_id, [account_ref])
    return MappedAccount(row, follow_up)


def accept_and_follow_up(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    suggestions: Sequence[Suggestion],
) -> AcceptedSuggestions:
    """Save the given suggestions as mappings (each that can be, in one transaction), then
    one follow-up for those saved."""
    with database.session() as session:
        outcomes = accept_suggestions(session, workspace_id, suggestions)
    saved = [outcome.suggestion.account_ref for outcome in outcomes if outcome.saved]
    return AcceptedSuggestions(
        outcomes, follow_up_mapped(database, settings, queue, workspace_id, saved)
    )


def save_chosen_and_follow_up(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    chosen: Sequence[ChosenMapping],
) -> SavedChoices:
    """Save the mappings a person chose (each that can be, in one transaction, nothing
    suggested again), then one follow-up for those saved."""
    with database.session() as session:
        outcomes = save_chosen_mappings(session, workspace_id, chosen)
    saved = [outcome.chosen.account_ref for outcome in outcomes if outcome.saved]
    return SavedChoices(outcomes, follow_up_mapped(database, settings, queue, workspace_id, saved))
