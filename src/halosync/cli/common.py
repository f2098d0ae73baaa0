"""What many commands share: the database of this invocation and the ``--workspace`` option."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from halosync.cli.app import state
from halosync.store.database import Database
from halosync.workspaces import WorkspaceRef
from halosync.workspaces import resolve_workspace as _resolve

if TYPE_CHECKING:
    from halosync.settings import Settings

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
    settings = state(ctx).settings
    database = Database.from_settings(settings)
    database.migrate()
    root.meta[_DATABASE_KEY] = database
    root.call_on_close(database.dispose)
    announce_first_start(settings, database)
    return database


def announce_first_start(settings: Settings, database: Database) -> None:
    """On the default database's first start, make the key file too and say on stderr
    where the data directory, the database and the key are; silent on every later start
    and for a database the operator named (HALOSYNC_DATABASE_URL)."""
    if not database.created or settings.database_url is not None:
        return
    from halosync.store.crypto import create_key_file

    key = create_key_file(settings)
    made = "the database halosync.db" + (f" and the encryption key {key.name}" if key else "")
    sys.stderr.write(
        f"halosync: first start: created {made} in {settings.data_dir} (readable by this "
        "user only).\n"
        + (
            "Back up the key with the database: without it the stored Halo secrets cannot be "
            "read. HALOSYNC_DATA_DIR moves them.\n"
            if key
            else "HALOSYNC_DATA_DIR moves it.\n"
        )
    )


def resolve_workspace(database: Database, reference: str | None) -> WorkspaceRef:
    """The workspace named by ``--workspace``, or the only one when it was left out."""
    return _resolve(database, reference)
