"""What many commands share: the database of this invocation and the ``--workspace`` option."""

from __future__ import annotations

from typing import Annotated

import typer

from halosync.cli.app import state
from halosync.store.database import Database
from halosync.workspaces import WorkspaceRef
from halosync.workspaces import resolve_workspace as _resolve

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace name or id (may be left out when exactly one workspace exists).",
    ),
]
_DATABASE_KEY = "halosync.database"
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def cli_actor() -> str:
    """Who a change made on the command line is recorded as: ``<os user> (command line)``."""
    import getpass

    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):
        return "command line"


def open_database(ctx: typer.Context) -> Database:
    """The invocation's database, migrated to the newest schema (created on first use)."""
    root = ctx.find_root()
    cached = root.meta.get(_DATABASE_KEY)
    if isinstance(cached, Database):
        return cached
    database = Database.from_settings(state(ctx).settings)
    database.migrate()
    root.meta[_DATABASE_KEY] = database
    root.call_on_close(database.dispose)
    return database


def resolve_workspace(database: Database, reference: str | None) -> WorkspaceRef:
    """The workspace named by ``--workspace``, or the only one when it was left out."""
    return _resolve(database, reference)
