"""The usage push ("Sync Subscriptions"): store + Halo state -> plan -> batched writes.

One service function serves every entry point (CLI now; REST API, UI and job workers
later). It holds no global state: everything comes in as arguments.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.domain.models import RunTrigger
from halosync.domain.planner import plan_usage_sync
from halosync.domain.skips import UNCHANGED, summarise_skips
from halosync.errors import NotFoundError
from halosync.halopsa.client import HaloApiClient
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import Account, Workspace
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import PROVIDER, add_log_entry, latest_log_details
from halosync.sync.execute import PlanExecutor, record_planned
from halosync.sync.gather import SyncInputs, load_inputs
from halosync.sync.halo import HaloFactory, line_write_path, open_halo
from halosync.sync.halo_state import HaloState, read_invoice_lines, read_licences
from halosync.sync.progress import ProgressObserver
from halosync.sync.results import ChangeResult, UsageReport, count_results
from halosync.sync.review import (
    HELD_TITLE,
    HoldScope,
    changes_of,
    log_still_waiting,
    mark_held,
    remember_holds,
    screen,
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
        account_id = session.scalar(
            select(Account.id).where(
                Account.workspace_id == workspace_id, Account.ref == account_ref
            )
        )
    if account_id is None:
        raise NotFoundError(
            f"Workspace has no account with reference {account_ref!r}.",
            fix="Check the reference (see the imported usage data).",
        )
    return account_id


async def _read_state(
    inputs: SyncInputs, halo: HaloApiClient, account_ref: str | None
) -> HaloState:
    targets = inputs.account_targets
    if inputs.settings.target == "licence":
        one_client = targets[account_ref].halo_client_id if account_ref in targets else None
        if account_ref is not None and one_client is None:
            return HaloState([], [], set())
        licences = await read_licences(
            halo,
            targets=targets,
            ledger=inputs.ledger,
            one_client=one_client,
            earlier_records=inputs.earlier_records,
        )
        return HaloState(licences, [], set())
    invoice_ids = {t.recurring_invoice_id for t in targets.values() if t.recurring_invoice_id}
    versions: dict[int, str | None] = {}
    lines, missing = await read_invoice_lines(
        halo, invoice_ids=invoice_ids, one_invoice=account_ref is not None, versions=versions
    )
    for ref, target in list(targets.items()):
        if target.recurring_invoice_id in missing:
            targets[ref] = replace(target, recurring_invoice_gone=True)
    return HaloState([], lines, missing, versions)


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
    pairs: Collection[tuple[str, str]] | None = None,
    observers: Sequence[ProgressObserver] = (),
) -> UsageReport:
    """Push the workspace's usage to Halo (or, with ``dry_run``, only say what would change).

    Writes the review policy holds are reported as skips and wait in the review queue
    (:mod:`halosync.sync.review`); ``pairs`` limits the run to those (account_ref,
    service_ref) pairs, as an approval does. Raises :class:`SyncInProgressError` when
    another (non-dry) sync of the workspace is running. Halo configuration problems end the
    run as ``halted``, other failures as ``failed``; per-record refusals are ``fail``
    results and the run goes on. ``run_id`` names a run queued earlier (by the jobs
    facade) to claim and execute; ``observers`` hear the run's progress (pages read,
    writes done of planned, waits for Halo's rate limit).
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
    scope = f"account {account_ref}" if account_ref else "all accounts"
    if not dry_run:
        with database.session() as session:
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                "Subscriptions sync started",
                f"Workspace {name}, provider {PROVIDER}, {scope}, target {target}.",
                run_id=run_id,
            )
    results: list[ChangeResult] = []
    fresh: set[tuple[str, str]] = set()

    def close(session: Session, end: RunEnd) -> None:
        if dry_run:
            return
        # The per-row warnings first, so that newest-first the run's summary heads them.
        # A change held again by a later run was announced when first held.
        waiting = [r for r in results if r.held and (r.account_ref, r.service_ref) not in fresh]
        announced = {id(r) for r in waiting}
        _log_attention(
            session, workspace_id, run_id, [r for r in results if id(r) not in announced]
        )
        log_still_waiting(session, workspace_id, run_id, waiting)
        _log_outcome(session, workspace_id, run_id, name, scope, end)
        if end.status == "succeeded":
            ws = session.get(Workspace, workspace_id)
            assert ws is not None
            ws.last_usage_sync_at = end.finished_at
        prune_history(session, workspace_id, retention, now=end.finished_at)

    lifecycle = RunLifecycle(
        database,
        run_id,
        stale_after_seconds=settings.sync_stale_run_seconds,
        counts=lambda: count_results(results),
        on_finish=close,
        started=started,
        observers=observers,
    )
    async with lifecycle, open_halo(database, box, settings, workspace_id, halo_factory) as halo:
        halo.watch(lifecycle.progress)
        with database.session() as session:
            ws = session.get(Workspace, workspace_id)
            assert ws is not None
            inputs = load_inputs(session, ws, account_id)
        state = await _read_state(inputs, halo, account_ref)
        plan = plan_usage_sync(
            inputs.subscriptions,
            account_targets=inputs.account_targets,
            service_items=inputs.service_items,
            ledger=inputs.ledger,
            settings=inputs.settings,
            halo_licences=state.licences,
            halo_invoice_lines=state.lines,
            accounts={account_ref} if account_ref else None,
            rules=inputs.rules,
        )
        if pairs is not None:
            plan = changes_of(plan, pairs)
        with database.session() as session:
            # Between the planner and the executor: held writes reach nowhere.
            screening = screen(session, workspace_id, plan)
            if not dry_run:
                hold_scope = HoldScope(
                    everything=account_ref is None and pairs is None,
                    pairs=frozenset((c.account_ref, c.service_ref) for c in plan.changes),
                )
                new_holds = remember_holds(
                    session,
                    workspace_id,
                    run_id,
                    screening,
                    hold_scope,
                    account_ids=inputs.account_ids,
                    service_ids=inputs.service_ids,
                )
                fresh.update((h.change.account_ref, h.change.service_ref) for h in new_holds)
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
            results += mark_held(planned, screening)
        else:
            executor = PlanExecutor(
                database,
                halo,
                inputs,
                state,
                workspace_id=workspace_id,
                run_id=run_id,
                batch_size=settings.sync_batch_size,
                progress=lifecycle.progress,
                line_write_path=line_write_path(database, box, workspace_id),
            )
            results += mark_held(await executor.run(plan), screening)
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
        changes=tuple(results),
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


MAX_NAMED_SKIPS = 20
"""How many account references the skip summary names per reason before it only counts."""


def _log_expected_skips(
    session: Session, workspace_id: int, run_id: int, results: list[ChangeResult]
) -> None:
    """One INFO entry naming the accounts skipped for expected reasons (trial, not billed
    yet, subscription ended): not a warning, but never silent."""
    by_reason: dict[str, list[str]] = {}
    for result in results:
        if result.action == "skip" and result.level == "INFO":
            by_reason.setdefault(result.reason, []).append(result.account_ref)
    if not by_reason:
        return
    parts = []
    for reason, refs in sorted(by_reason.items()):
        accounts = sorted(set(refs))
        named = ", ".join(accounts[:MAX_NAMED_SKIPS])
        more = (
            f" and {len(accounts) - MAX_NAMED_SKIPS} more"
            if len(accounts) > MAX_NAMED_SKIPS
            else ""
        )
        parts.append(f"{len(refs)} subscription(s), {reason} ({named}{more})")
    add_log_entry(
        session,
        workspace_id,
        "INFO",
        "Subscriptions skipped",
        "; ".join(parts) + ".",
        run_id=run_id,
    )


def _log_skip_summaries(
    session: Session, workspace_id: int, run_id: int, attention: list[ChangeResult]
) -> list[ChangeResult]:
    """One entry per reason for the accounts and services not mapped, naming every pair
    (the per-pair detail stays in the run's results); a WARNING only when the set differs
    from the last entry of that reason, an INFO saying it is unchanged otherwise. The
    attention results left to log one by one are returned."""
    skips = [r for r in attention if r.action == "skip" and not r.held and not r.duplicates]
    summaries, others = summarise_skips((r.account_ref, r.service_ref, r.reason) for r in skips)
    kept = {id(skips[index]) for index in others}
    for summary in summaries:
        body = summary.details()
        previous = latest_log_details(session, workspace_id, summary.title)
        unchanged = previous is not None and previous.removesuffix(f" {UNCHANGED}") == body
        add_log_entry(
            session,
            workspace_id,
            "INFO" if unchanged else "WARNING",
            summary.title,
            f"{body} {UNCHANGED}" if unchanged else body,
            run_id=run_id,
        )
    grouped = {id(r) for r in skips} - kept
    return [r for r in attention if id(r) not in grouped]


def _attention_title(result: ChangeResult) -> str:
    if result.held:
        return HELD_TITLE
    if result.duplicates:
        return _DUPLICATES_TITLE
    return _ATTENTION_TITLES[result.action]


def _log_attention(
    session: Session, workspace_id: int, run_id: int, results: list[ChangeResult]
) -> None:
    _log_expected_skips(session, workspace_id, run_id, results)
    attention = [r for r in results if r.level in ("WARNING", "ERROR")]
    attention = _log_skip_summaries(session, workspace_id, run_id, attention)
    for result in attention[:MAX_ATTENTION_ENTRIES]:
        details = f"Account {result.account_ref}, service {result.service_ref}: {result.reason}"
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
    hidden = len(attention) - MAX_ATTENTION_ENTRIES
    if hidden > 0:
        add_log_entry(
            session,
            workspace_id,
            "WARNING",
            "More subscriptions need attention",
            f"{hidden} more skipped or failed subscriptions; see run {run_id}'s results.",
            run_id=run_id,
        )
