"""The usage push ("Sync Subscriptions"): store + Halo state -> plan -> batched writes.

One service function serves every entry point (CLI now; REST API, UI and job workers
later). It holds no global state: everything comes in as arguments.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from halosync.domain.chunks import chunk_places
from halosync.domain.models import RunTrigger
from halosync.domain.planner import plan_usage_sync
from halosync.domain.skips import UNCHANGED, SkipTally
from halosync.domain.terms import service_label
from halosync.errors import NotFoundError
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.errors import HaloError
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import Workspace
from halosync.store.usage import AccountRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import PROVIDER, add_log_entry, latest_log_details
from halosync.sync.client_status import note_inactive_clients
from halosync.sync.execute import PlanExecutor, record_planned
from halosync.sync.gather import (
    RunScope,
    SyncInputs,
    account_chunks,
    add_ledger_naming,
    load_chunk,
    load_scope,
)
from halosync.sync.halo import HaloFactory, line_write_path, open_halo
from halosync.sync.halo_state import (
    HaloState,
    SpilledHaloState,
    read_invoice_lines,
    read_licences,
)
from halosync.sync.progress import ProgressObserver
from halosync.sync.results import ChangeResult, RunResults, UsageReport
from halosync.sync.review import (
    HELD_TITLE,
    Approvals,
    changes_of,
    log_still_waiting,
    mark_held,
    review_plan,
    withdraw_unplanned,
)
from halosync.sync.runs import RunEnd, RunLifecycle, prune_history, start_run

log = get_logger(__name__)

MAX_ATTENTION_ENTRIES = 200
"""Per run, at most this many WARNING/ERROR entries name single pairs; then one summary."""

_ATTENTION_TITLES = {
    "skip": "Subscription skipped",
    "fail": "Subscription sync failed",
    "create": "Subscription record created again",
    "update": "Subscription record taken over",
    "unchanged": "Subscription record taken over",
}
_DUPLICATES_TITLE = "Duplicate records in HaloPSA"


def _find_account(database: Database, workspace_id: int, account_ref: str | None) -> int | None:
    if account_ref is None:
        return None
    with database.session() as session:
        account_id = AccountRepository(session, workspace_id).id_by_ref(account_ref)
    if account_id is None:
        raise NotFoundError(
            f"Workspace has no account with reference {account_ref!r}.",
            fix="Check the reference (see the imported usage data).",
        )
    return account_id


async def _read_state(scope: RunScope, halo: HaloApiClient) -> SpilledHaloState:
    """Halo's records for the whole run, read page by page onto disk."""
    if scope.settings.target == "licence":
        state = SpilledHaloState()
        if scope.account is not None and scope.one_client is None:
            return state
        await read_licences(
            halo,
            scope=scope.clients,
            ledger=scope.licence_ledger,
            one_client=scope.one_client,
            earlier_records=scope.earlier_records,
            into=state.licences,
            unread=state.unread_records,
        )
        return state
    return await read_invoice_lines(
        halo, invoice_ids=scope.invoices, one_invoice=scope.account is not None
    )


def _chunk_state(
    database: Database,
    workspace_id: int,
    inputs: SyncInputs,
    state: SpilledHaloState,
    accounts: list[int],
) -> HaloState:
    """One chunk's Halo records, with the ledger rows of other accounts naming them."""
    target = inputs.settings.target
    places = chunk_places(inputs.account_targets.values(), inputs.ledger, target)
    chunk = state.chunk(places)
    records = [r.id for r in chunk.licences] if target == "licence" else [r.id for r in chunk.lines]
    with database.session() as session:
        add_ledger_naming(session, workspace_id, inputs, records, accounts)
    for ref, account_target in list(inputs.account_targets.items()):
        if account_target.recurring_invoice_id in chunk.missing_invoices:
            inputs.account_targets[ref] = replace(account_target, recurring_invoice_gone=True)
        elif account_target.recurring_invoice_id in chunk.unread_invoices:
            inputs.account_targets[ref] = replace(account_target, recurring_invoice_unread=True)
    return chunk


CHUNK_ACCOUNTS = 1000
"""Accounts planned and written together: what a sync holds in memory at once."""


async def run_usage_sync(
    database: Database,
    box: SecretBox,
    settings: Settings,
    workspace_id: int,
    *,
    trigger: RunTrigger = "manual",
    account_ref: str | None = None,
    dry_run: bool = False,
    halo_factory: HaloFactory | None = None,
    run_id: int | None = None,
    identities: Collection[tuple[str, str, str]] | None = None,
    observers: Sequence[ProgressObserver] = (),
    chunk_accounts: int = CHUNK_ACCOUNTS,
) -> UsageReport:
    """Push the workspace's usage to Halo (or, with ``dry_run``, only say what would change).

    Writes the review policy holds are reported as skips and wait in the review queue
    (:mod:`halosync.sync.review`); ``identities`` limits the run to the changes of those
    (account_ref, service_ref, term kept apart) identities, as an approval does. Raises
    :class:`SyncInProgressError` when another (non-dry) sync of the workspace is running.
    Halo configuration problems end the run as ``halted``, other failures as ``failed``;
    per-record refusals are ``fail`` results and the run goes on. ``run_id`` names a run
    queued earlier (by the jobs facade) to claim and execute; ``observers`` hear the run's
    progress (pages read, writes done of planned, waits for Halo's rate limit).

    Halo's records are read page by page onto disk; the accounts are then planned and
    written ``chunk_accounts`` at a time (:mod:`halosync.domain.chunks`), and the results
    kept on disk, so memory does not grow with the workspace.
    """
    started = time.monotonic()
    database.migrate()
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        name, target, retention = workspace.name, workspace.target, workspace.log_retention_days
    account_id = _find_account(database, workspace_id, account_ref)
    run_id = start_run(
        database,
        workspace_id,
        kind="usage",
        trigger=trigger,
        dry_run=dry_run,
        account_id=account_id,
        account_ref=account_ref,
        stale_after_seconds=settings.sync_stale_run_seconds,
        run_id=run_id,
    )
    scope_text = f"account {account_ref}" if account_ref else "all accounts"
    if not dry_run:
        with database.session() as session:
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                "Subscriptions sync started",
                f"Workspace {name}, provider {PROVIDER}, {scope_text}, target {target}.",
                run_id=run_id,
            )
    results = RunResults()
    attention = _Attention()

    def close(session: Session, end: RunEnd) -> None:
        if dry_run:
            return
        # The per-row warnings first, so that newest-first the run's summary heads them.
        # A change held again by a later run was announced when first held.
        attention.log(session, workspace_id, run_id)
        log_still_waiting(session, workspace_id, run_id, attention.waiting)
        _log_outcome(session, workspace_id, run_id, name, scope_text, end)
        if end.status == "succeeded":
            ws = session.get(Workspace, workspace_id)
            assert ws is not None
            ws.last_usage_sync_at = end.finished_at
        prune_history(session, workspace_id, retention, now=end.finished_at)

    lifecycle = RunLifecycle(
        database,
        run_id,
        stale_after_seconds=settings.sync_stale_run_seconds,
        counts=lambda: dict(results.counts),
        on_finish=close,
        started=started,
        observers=observers,
    )
    async with lifecycle, open_halo(database, box, settings, workspace_id, halo_factory) as halo:
        halo.watch(lifecycle.progress)
        with database.session() as session:
            ws = session.get(Workspace, workspace_id)
            assert ws is not None
            scope = load_scope(session, ws, account_id)
        if scope.clients:
            await note_inactive_clients(database, workspace_id, halo)
        state = await _read_state(scope, halo)
        write_path = line_write_path(database, box, workspace_id)
        everything = account_ref is None and identities is None
        still_held: set[int] = set()
        approvals: Approvals = {}
        posts = 0
        failing: HaloError | None = None
        try:
            for accounts in account_chunks(database, workspace_id, scope, chunk_accounts):
                with database.session() as session:
                    inputs = load_chunk(
                        session,
                        workspace_id,
                        scope.settings,
                        scope.service_items,
                        accounts,
                        scope.rules,
                    )
                inputs.earlier_records = scope.earlier_records
                chunk = _chunk_state(database, workspace_id, inputs, state, accounts)
                plan = plan_usage_sync(
                    inputs.subscriptions,
                    account_targets=inputs.account_targets,
                    service_items=inputs.service_items,
                    ledger=inputs.ledger,
                    settings=inputs.settings,
                    halo_licences=chunk.licences,
                    halo_invoice_lines=chunk.lines,
                    accounts={account_ref} if account_ref else None,
                    rules=inputs.rules,
                    created_earlier=inputs.earlier_records,
                    unread_records=chunk.unread_records,
                )
                if identities is not None:
                    plan = changes_of(plan, identities)
                fresh: set[tuple[str, str, str]] = set()
                with database.session() as session:
                    # Between the planner and the executor: held writes reach nowhere.
                    screening, new_holds = review_plan(
                        session,
                        workspace_id,
                        run_id,
                        plan,
                        account_ids=inputs.account_ids,
                        service_ids=inputs.service_ids,
                        still_held=still_held,
                        approvals=approvals,
                        remember=not dry_run,
                    )
                fresh.update(h.change.identity for h in new_holds)
                plan = screening.plan
                if dry_run:
                    with database.session() as session:
                        planned = record_planned(
                            session,
                            plan.changes,
                            run_id=run_id,
                            workspace_id=workspace_id,
                            inputs=inputs,
                        )
                    done = mark_held(planned, screening)
                else:
                    executor = PlanExecutor(
                        database,
                        halo,
                        inputs,
                        chunk,
                        workspace_id=workspace_id,
                        run_id=run_id,
                        batch_size=settings.sync_batch_size,
                        progress=lifecycle.progress,
                        line_write_path=write_path,
                        posts=posts,
                        failing=failing,
                        still_held=still_held,
                        approvals=approvals,
                    )
                    try:
                        ran = await executor.run(plan)
                    finally:
                        posts, failing = executor.posts, executor.failing
                    done = mark_held(ran, screening, executor.held_again)
                    fresh.update(h.change.identity for h in executor.new_holds)
                results.add(done)
                attention.add(done, fresh)
            if everything and not dry_run:
                with database.session() as session:
                    # Held changes no chunk planned any more (the subscription is gone).
                    withdraw_unplanned(session, workspace_id, run_id, keep=still_held)
        finally:
            state.close()
    end = lifecycle.end
    log.info(
        "usage_sync_finished",
        workspace=name,
        run_id=run_id,
        status=end.status,
        dry_run=dry_run,
        duration_ms=end.duration_ms,
        **end.counts,
    )
    return UsageReport(
        run_id=run_id,
        workspace=name,
        dry_run=dry_run,
        status=end.status,
        target=target,
        counts=end.counts,
        changes=results.changes,
        duration_ms=end.duration_ms,
        account_ref=account_ref,
        error=end.error,
    )


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items())


def _log_outcome(
    session: Session, workspace_id: int, run_id: int, name: str, scope: str, end: RunEnd
) -> None:
    if end.status == "succeeded":
        add_log_entry(
            session,
            workspace_id,
            "INFO",
            "Subscriptions sync completed",
            f"Workspace {name}, provider {PROVIDER}, {scope}: {_counts_text(end.counts)}, "
            f"duration {end.duration_ms} ms.",
            run_id=run_id,
        )
        return
    title = "Subscriptions sync halted" if end.status == "halted" else "Subscriptions sync failed"
    add_log_entry(
        session,
        workspace_id,
        "ERROR",
        title,
        f"Workspace {name}, provider {PROVIDER}, {scope}: {end.error}. "
        f"Done before it stopped: {_counts_text(end.counts)}.",
        run_id=run_id,
    )


class _Attention:
    """What a run's log entries name, gathered chunk by chunk: the skips by design as one
    summary per kind (domain.skips.SkipTally), the first MAX_ATTENTION_ENTRIES other
    warnings and errors one by one, and the held changes."""

    def __init__(self) -> None:
        self.skips = SkipTally()
        self.named: list[ChangeResult] = []
        """The first MAX_ATTENTION_ENTRIES other WARNING/ERROR results, in plan order."""
        self.hidden = 0
        self.waiting: list[ChangeResult] = []
        """Changes held earlier and held again (announced when first held)."""

    def add(self, results: Sequence[ChangeResult], fresh: Collection[tuple[str, str, str]]) -> None:
        """Take one chunk's results; ``fresh``: the identities this run held first."""
        for result in results:
            if result.held and result.identity not in fresh:
                self.waiting.append(result)
                continue
            if (
                not result.held
                and not result.duplicates
                and self.skips.add(
                    result.action,
                    result.level,
                    result.skip,
                    result.account_ref,
                    result.service_ref,
                    result.reason,
                )
            ):
                continue
            if result.level not in ("WARNING", "ERROR"):
                continue
            if len(self.named) < MAX_ATTENTION_ENTRIES:
                self.named.append(result)
            else:
                self.hidden += 1

    def log(self, session: Session, workspace_id: int, run_id: int) -> None:
        """The run's entries: the skip summaries, then one per result named."""
        self._log_skip_summaries(session, workspace_id, run_id)
        for result in self.named:
            service = service_label(result.service_ref, result.term)
            details = f"Account {result.account_ref}, service {service}: {result.reason}"
            if result.message and result.message not in details:
                details += f" ({result.message})"
            add_log_entry(
                session,
                workspace_id,
                "ERROR" if result.level == "ERROR" else "WARNING",
                _attention_title(result),
                details,
                run_id=run_id,
            )
        if self.hidden > 0:
            add_log_entry(
                session,
                workspace_id,
                "WARNING",
                "More subscriptions need attention",
                f"{self.hidden} more skipped or failed subscriptions; see run {run_id}'s results.",
                run_id=run_id,
            )

    def _log_skip_summaries(self, session: Session, workspace_id: int, run_id: int) -> None:
        """One entry per kind of skip by design (the per-pair detail stays in the run's
        results). A WARNING that names every pair and reads as that title's last entry is
        an INFO saying it is unchanged instead: only a new set warns again."""
        for summary in self.skips.summaries():
            body = summary.details
            level = summary.level
            if level == "WARNING" and summary.complete:
                previous = latest_log_details(session, workspace_id, summary.title)
                if previous is not None and previous.removesuffix(f" {UNCHANGED}") == body:
                    level, body = "INFO", f"{body} {UNCHANGED}"
            add_log_entry(session, workspace_id, level, summary.title, body, run_id=run_id)


def _attention_title(result: ChangeResult) -> str:
    if result.held:
        return HELD_TITLE
    if result.duplicates:
        return _DUPLICATES_TITLE
    return _ATTENTION_TITLES[result.action]
