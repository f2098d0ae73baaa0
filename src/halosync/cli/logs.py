"""``halosync logs``: the workspace activity log (sync started/completed, warnings...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, name
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.sync.activity import DEFAULT_PAGE_SIZE, list_log_entries, parse_level


@app.command("logs")
def logs(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    level: Annotated[
        str | None, typer.Option("--level", help="info, warning, error (default: all).")
    ] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=500, help="Entries per page.")
    ] = DEFAULT_PAGE_SIZE,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Show long details whole (they are folded, as on the Logs page)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the last 30 days of log entries, newest first."""
    wanted = parse_level(level)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    result = list_log_entries(database, ws.id, level=wanted, page=page, page_size=page_size)
    if as_json:
        emit_json({"workspace": ws.name, **result.to_dict()})
        return
    echo(
        f"Workspace {ws.name}: {result.total} entries in 30 days, {result.errors} errors, "
        f"{result.warnings} warnings. Showing {result.range_text}."
    )
    for entry in result.entries:
        local = entry.created_at.astimezone()
        echo(f"{_stamp(local)}  {entry.level:<7}  {name(entry.title)}")
        preview = None if full else entry.preview
        if preview is not None:
            # A skip summary names every unmapped account: at 10,000 accounts one entry
            # would fill the terminal with 180,000 characters.
            echo(
                f"{'':<18}  {'':<7}  {preview} [{len(entry.details or ''):,} characters; "
                "--full or --json shows them whole]"
            )
        elif entry.details:
            echo(f"{'':<18}  {'':<7}  {entry.details}")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
