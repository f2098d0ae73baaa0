"""``halosync sync customers|usage``: pull Halo's clients and items, push usage counts."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.cli.progress import sync_progress
from halosync.domain.planner import TAKE_OVER_NOTE
from halosync.domain.terms import service_label
from halosync.logging import redact_text
from halosync.store.crypto import SecretBox
from halosync.sync.customers import run_customers_sync
from halosync.sync.results import UsageReport
from halosync.sync.usage import run_usage_sync

sync_app = typer.Typer(
    help="Run a sync now: customers (pull from Halo) or usage (push counts to Halo).",
    no_args_is_help=True,
)
app.add_typer(sync_app, name="sync")


def _finish(status: str, error: str | None) -> None:
    if status != "succeeded":
        sys.stderr.write(f"error: sync {status}: {redact_text(error or 'no reason given')}\n")
        raise typer.Exit(1)


def finish_usage(status: str, error: str | None, failed: int, *, dry_run: bool = False) -> None:
    """Exit as the CLI contract says: 0 only on success. A usage sync in which records
    failed wrote the others but did not bill what it was asked to, so it exits 1 too,
    saying so on stderr (a dry run exits as the real run would)."""
    _finish(status, error)
    if failed:
        would = "would fail" if dry_run else "failed"
        sys.stderr.write(
            f"error: {failed} record(s) {would}; the others were "
            f"{'planned' if dry_run else 'written'}. Each `fail` result says why; "
            "run the sync again once the cause is fixed.\n"
        )
        raise typer.Exit(1)


@sync_app.command("customers")
def customers(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Pull Halo clients, items (and recurring invoices for invoice_line) into halosync."""
    database = open_database(ctx)
    settings = state(ctx).settings
    ws = resolve_workspace(database, workspace)
    with sync_progress("Reading HaloPSA", as_json=as_json) as observers:
        report = asyncio.run(
            run_customers_sync(
                database, SecretBox.from_settings(settings), settings, ws.id, observers=observers
            )
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        counts = report.counts
        echo(
            f"Customers sync {report.status} for workspace {report.workspace} "
            f"(run {report.run_id}, {report.duration_ms} ms): created {counts['created']}, "
            f"updated {counts['updated']}, unchanged {counts['unchanged']}, "
            f"failed {counts['failed']}."
        )
        for kind, kind_counts in report.details.items():
            echo(
                f"  {kind}: "
                + ", ".join(f"{key} {value}" for key, value in kind_counts.items() if value)
            )
    _finish(report.status, report.error)


def _print_usage(report: UsageReport) -> None:
    what = "Dry run (nothing written)" if report.dry_run else "Usage sync"
    counts = report.counts
    for change in report.changes:
        where = f"halo {change.halo_id}" if change.halo_id is not None else "-"
        detail = change.reason
        if change.reason.startswith(TAKE_OVER_NOTE):
            # "will take over line 24002 (M365 Business Premium, qty 10 → 12) on ..."
            detail = change.reason.split(";")[0]
        elif change.action == "update":
            detail = ", ".join(
                f"{name} {change.before.get(name)} -> {value}"
                for name, value in change.after.items()
            )
        service = service_label(change.service_ref, change.term)
        echo(f"{change.action:<9} {change.account_ref:<20} {service:<20} {where:<12} {detail}")
        if change.message:
            echo(f"{'':<9} {redact_text(change.message)}")
        if change.explain:
            echo(f"{'':<9} why: {change.explain_text}")
    echo(
        f"{what} {report.status} for workspace {report.workspace} (run {report.run_id}, "
        f"target {report.target}, {report.duration_ms} ms): created {counts['created']}, "
        f"updated {counts['updated']}, unchanged {counts['unchanged']}, "
        f"skipped {counts['skipped']}, failed {counts['failed']}."
    )
    held = sum(1 for change in report.changes if change.held)
    if held:
        echo(f"{held} change(s) held for review and not written: see `halosync review list`.")


@sync_app.command("usage")
def usage(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Sync only this account (its reference).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the exact writes without making them.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Push usage counts (and prices, per the price mode) to Halo."""
    database = open_database(ctx)
    settings = state(ctx).settings
    ws = resolve_workspace(database, workspace)
    with sync_progress("Reading HaloPSA", as_json=as_json) as observers:
        report = asyncio.run(
            run_usage_sync(
                database,
                SecretBox.from_settings(settings),
                settings,
                ws.id,
                account_ref=account,
                dry_run=dry_run,
                observers=observers,
            )
        )
    if as_json:
        # Written a change at a time: a large run's document is never held whole.
        report.write_json(sys.stdout)
    else:
        _print_usage(report)
    finish_usage(report.status, report.error, report.counts["failed"], dry_run=dry_run)
