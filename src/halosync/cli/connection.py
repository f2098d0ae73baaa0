"""``halosync connection set|test|show|reset``: a workspace's HaloPSA connection."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database
from halosync.connection.probe import TestOutcome
from halosync.connection.service import (
    INVALID_CONFIGURATION,
    ConnectionInput,
    ConnectionService,
    ConnectionView,
)
from halosync.errors import HalosyncError, ValidationFailedError
from halosync.logging import redact_text

connection_app = typer.Typer(
    help="Connect a workspace to HaloPSA: set, test, show, reset.", no_args_is_help=True
)
app.add_typer(connection_app, name="connection")


def _service(ctx: typer.Context) -> ConnectionService:
    return ConnectionService(open_database(ctx), state(ctx).settings)


def _show_lines(view: ConnectionView) -> list[str]:
    tested = view.last_successful_test_at.isoformat() if view.last_successful_test_at else "never"
    return [
        f"Workspace:              {view.workspace}",
        f"Server:                 {view.server_url}",
        f"Authorisation server:   {view.auth_server_url or '(derived: <server>/auth)'}",
        f"Tenant:                 {view.tenant or '(not set)'}",
        f"Client ID:              {view.client_id}",
        f"Client secret:          {view.client_secret}",
        f"Target:                 {view.target}",
        f"Configured on:          {view.configured_at.isoformat()}",
        f"Last successful test:   {tested}",
        f"Account mappings:       {view.account_mappings}",
        f"Service mappings:       {view.service_mappings}",
    ]


@connection_app.command("set")
def set_connection(
    ctx: typer.Context,
    server: Annotated[str, typer.Option("--server", help="Halo server address (https://...).")],
    client_id: Annotated[str, typer.Option("--client-id", help="The API application's ID.")],
    client_secret: Annotated[
        str,
        typer.Option(
            "--client-secret",
            envvar="HALOSYNC_HALO_CLIENT_SECRET",
            help="The API application's secret (or env HALOSYNC_HALO_CLIENT_SECRET). Left "
            "out, the stored secret is kept, but only for the same server, authorisation "
            "server and client ID.",
            show_default=False,
        ),
    ] = "",
    workspace: WorkspaceOption = None,
    auth_server: Annotated[
        str | None,
        typer.Option("--auth-server", help="Authorisation server; blank = <server>/auth."),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Hosted tenant; blank/'Not set' = none.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Where counts land: licence|invoice_line.")
    ] = None,
    line_write_path: Annotated[
        str | None,
        typer.Option(
            "--line-write-path",
            help="How recurring-invoice lines are written: invoice (default: the whole line "
            "set posted back) or update_lines. Left out, the stored one is kept.",
        ),
    ] = None,
    no_test: Annotated[
        bool, typer.Option("--no-test", help="Store without testing (not recommended).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Test the connection and store it (refused when the test fails)."""
    data = ConnectionInput(
        server, client_id, client_secret, auth_server, tenant, target, line_write_path
    )
    try:
        view, outcome = asyncio.run(_service(ctx).save(workspace, data, test=not no_test))
    except ValidationFailedError as refused:
        if as_json:
            emit_json({"saved": False, "message": refused.message, "cause": refused.fix})
        raise
    if as_json:
        emit_json(
            {
                "saved": True,
                "connection": view.to_dict(),
                "test": outcome.to_dict() if outcome else None,
            }
        )
        return
    if outcome is not None:
        echo(outcome.text())
    echo(f"Connection saved for workspace {view.workspace}.")


@connection_app.command("test")
def run_connection_test(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Test the stored connection: token, then each permission the target needs."""
    outcome: TestOutcome = asyncio.run(_service(ctx).test(workspace))
    if as_json:
        emit_json(outcome.to_dict())
    elif outcome.success:
        echo(outcome.text())
    if not outcome.success:
        # Raised, not typer.Exit: the root runner turns it into stderr text and exit 1.
        raise HalosyncError(outcome.message, fix=outcome.cause)


@connection_app.command("show")
def show_connection(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show the stored connection (the client secret masked)."""
    view = _service(ctx).show(workspace)
    if as_json:
        emit_json(view.to_dict())
        return
    for line in _show_lines(view):
        echo(redact_text(line))


@connection_app.command("reset")
def reset_connection(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the connection and the mappings (ledger, runs and logs are kept)."""
    if not yes and sys.stdin.isatty():
        typer.confirm("Remove this workspace's Halo connection and all its mappings?", abort=True)
    summary = _service(ctx).reset(workspace)
    if as_json:
        emit_json(summary.to_dict())
        return
    echo(
        f"Reset workspace {summary.workspace}: connection "
        f"{'removed' if summary.connection_removed else 'was not set'}, "
        f"{summary.account_mappings_removed} account and {summary.service_mappings_removed} "
        "service mapping(s) removed; ledger, runs and logs kept."
    )


__all__ = ["INVALID_CONFIGURATION", "connection_app"]
