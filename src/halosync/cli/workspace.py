"""``halosync workspace create|list``."""

from __future__ import annotations

from typing import Annotated

import typer

from halosync import workspaces
from halosync.cli.app import app, echo, emit_json, name
from halosync.cli.common import JsonOption, open_database

workspace_app = typer.Typer(help="Create and list workspaces.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")


@workspace_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name for the workspace.")],
    as_json: JsonOption = False,
) -> None:
    """Create a workspace and print its id."""
    database = open_database(ctx)
    workspace = workspaces.create_workspace(database, name)
    document = {"id": workspace.id, "name": workspace.name}
    if as_json:
        emit_json(document)
    else:
        echo(document["id"])


@workspace_app.command("list")
def list_workspaces(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every workspace."""
    database = open_database(ctx)
    rows = [
        {
            "id": w.id,
            "name": w.name,
            "target": w.target,
            "price_mode": w.price_mode,
            "created_at": w.created_at.isoformat(),
        }
        for w in workspaces.list_workspaces(database)
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        echo("No workspaces yet. Create one with `halosync workspace create NAME`.")
    for row in rows:
        echo(f"{row['id']}\t{name(row['name'])}\t{row['target']}")
