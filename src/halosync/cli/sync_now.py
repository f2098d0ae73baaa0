"""``halosync sync now``: queue a sync (as the UI's Sync Now does) and optionally wait for it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from halosync.cli.app import echo, emit_json, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.cli.runs import run_dict, wait_for_run
from halosync.cli.sync import finish_usage, sync_app
from halosync.jobs import open_job_queue
from halosync.jobs.embedded import EmbeddedJobs
from halosync.jobs.schedules import parse_kind
from halosync.jobs.service import request_sync
from halosync.logging import redact_text


@sync_app.command("now")
def now(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    kind: Annotated[
        str, typer.Option("--kind", help="usage (push counts, default) or customers (pull).")
    ] = "usage",
    account: Annotated[
        str | None, typer.Option("--account", help="Sync only this account (usage).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to finish and show its outcome.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds to wait with --wait.")
    ] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Queue a sync of the workspace (refused while one runs, or within the cooldown)."""
    settings = state(ctx).settings
    sync_kind = parse_kind(kind)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    if wait and settings.queue == "embedded":
        # No other process has to be running: this one consumes until its run is done.
        with EmbeddedJobs(settings, database, workers=1, tick=False) as jobs:
            run_id = request_sync(
                database, settings, jobs.queue, ws.id, kind=sync_kind, account_ref=account
            )
            run = wait_for_run(database, ws.id, run_id, timeout)
    else:
        queue = open_job_queue(settings)
        try:
            run_id = request_sync(
                database, settings, queue, ws.id, kind=sync_kind, account_ref=account
            )
        finally:
            queue.close()
        run = wait_for_run(database, ws.id, run_id, timeout if wait else 0)
    shown = run_dict(run)
    if as_json:
        emit_json({"workspace": ws.name, **shown})
    elif not wait:
        where = (
            "`halosync serve` executes it"
            if settings.queue == "embedded"
            else "a `halosync worker` executes it"
        )
        echo(f"{sync_kind} sync of workspace {ws.name} queued as run {run_id}; {where}.")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in shown["counts"].items())
        echo(f"{sync_kind} sync run {run_id} {run.status}: {counts}")
    if wait and run.status != "succeeded":
        reason = run.error or ("still " + run.status if run.status in ("queued", "running") else "")
        sys.stderr.write(f"error: sync {run.status}: {redact_text(reason)}\n")
        raise typer.Exit(1)
    if wait and sync_kind == "usage":
        finish_usage(run.status, run.error, int(shown["counts"].get("failed", 0)))
