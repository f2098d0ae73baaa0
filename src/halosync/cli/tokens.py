"""``halosync token create|list|revoke``: workspace API tokens for the REST API."""

from __future__ import annotations

from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, name
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.users.tokens import issue_token, list_tokens, revoke_token

token_app = typer.Typer(help="Manage REST API tokens of a workspace.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    workspace: WorkspaceOption = None,
    role: Annotated[
        str, typer.Option("--role", help="admin (read and write) or viewer (read only).")
    ] = "admin",
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    database = open_database(ctx)
    target = resolve_workspace(database, workspace)
    issued, token = issue_token(database, target.id, name, role)
    document = {
        "id": issued.id,
        "name": issued.name,
        "role": issued.role,
        "workspace": target.name,
        "token": token,
    }
    if as_json:
        emit_json(document)
        return
    echo(token)
    echo("Store this token now: it cannot be shown again.", err=True)


@token_app.command("list")
def list_command(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """List a workspace's tokens (never the tokens themselves)."""
    database = open_database(ctx)
    target = resolve_workspace(database, workspace)
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            "revoked": t.revoked_at is not None,
        }
        for t in list_tokens(database, target.id)
    ]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        echo(f"{row['id']}\t{name(row['name'])}\t{row['role']}\t{state}")


@token_app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (see `token list`).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a token; it stops working at once."""
    database = open_database(ctx)
    target = resolve_workspace(database, workspace)
    revoke_token(database, target.id, token_id)
    echo(f"Revoked token {token_id}.")
