"""``halosync runs``: the workspace's recent sync runs, newest first."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from halosync.cli.app import app, echo, emit_json
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.store.database import Database
from halosync.sync.runs import RunView, get_run, list_runs

POLL_SECONDS = 0.2


def wait_for_run(database: Database, workspace_id: int, run_id: int, timeout: float) -> RunView:
    """The run once it has ended, or as it stands after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with database.session() as session:
            run = get_run(session, workspace_id, run_id)
        if not run.active or time.monotonic() > deadline:
            return run
        time.sleep(POLL_SECONDS)


def run_dict(run: RunView) -> dict[str, Any]:
    """One run as ``--json`` shows it."""
    return {
        "run_id": run.id,
        "kind": run.kind,
        "trigger": run.trigger,
        "status": run.status,
        "dry_run": run.dry_run,
        "account_ref": run.account_ref,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "counts": run.counts,
        "error": run.error,
        "schedule_key": run.schedule_key,
    }


@app.command("runs")
def runs(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List sync runs: kind, trigger, status, counts, when."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        listed = [run_dict(run) for run in list_runs(session, ws.id, page_size=limit).items]
    if as_json:
        emit_json({"workspace": ws.name, "runs": listed})
        return
    if not listed:
        echo(f"Workspace {ws.name} has no sync runs yet.")
    for run in listed:
        counts = ", ".join(f"{k} {v}" for k, v in run["counts"].items())
        scope = f" account {run['account_ref']}" if run["account_ref"] else ""
        dry = " (dry run)" if run["dry_run"] else ""
        echo(
            f"{run['run_id']:>6}  {run['created_at'][:16].replace('T', ' ')}  "
            f"{run['kind']:<9} {run['trigger']:<8} {run['status']:<9}{scope}{dry}  {counts}"
        )
        if run["error"]:
            echo(f"{'':>8}{run['error']}")
