"""``halosync db upgrade|status|backup``: the schema and copies of the database.

These commands never migrate on their own (unlike the others): ``upgrade`` is the one
step that changes the schema, the one to run before starting a new halosync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import JsonOption, announce_first_start

db_app = typer.Typer(
    help="The database: upgrade its schema, show its state, back it up.", no_args_is_help=True
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Migrate the schema to this version of halosync (run before starting new code)."""
    from halosync.store.database import Database

    settings = state(ctx).settings
    database = Database.from_settings(settings)
    try:
        before = database.upgrade()
        announce_first_start(settings, database)
    finally:
        database.dispose()
    if as_json:
        emit_json({"from": before.current, "to": before.head, "changed": not before.is_current})
        return
    if before.is_current:
        echo(f"The database schema is already current ({before.head}).")
    else:
        echo(f"Upgraded the database schema from {before.current or 'empty'} to {before.head}.")


@db_app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the schema revision against this version's; exit 1 when they differ."""
    from halosync.errors import HalosyncError
    from halosync.store.database import Database

    settings = state(ctx).settings
    database = Database.from_settings(settings)
    try:
        current = database.schema_state()
        announce_first_start(settings, database)
    finally:
        database.dispose()
    if as_json:
        emit_json(
            {"current": current.current, "head": current.head, "up_to_date": current.is_current}
        )
    elif current.is_current:
        echo(f"The database schema is current ({current.head}).")
    if not current.is_current:
        raise HalosyncError(current.problem() or "", fix=current.fix())


@db_app.command("backup")
def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The file to write the copy to.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace PATH if it exists.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy the live SQLite database to PATH (online: syncs may run meanwhile).

    The encryption key is not in the copy: keep HALOSYNC_SECRET_KEYS or the data
    directory's secret.key safe separately. For PostgreSQL, use pg_dump.
    """
    from halosync.ops.backup import backup_sqlite

    report = backup_sqlite(state(ctx).settings.resolved_database_url, path, overwrite=overwrite)
    if as_json:
        emit_json(
            {
                "source": str(report.source),
                "backup": str(report.destination),
                "size_bytes": report.size_bytes,
            }
        )
        return
    echo(f"Backed up {report.source} to {report.destination} ({report.size_bytes} bytes).")
    echo(
        "The encryption key is not in the backup: keep it (HALOSYNC_SECRET_KEYS or the data "
        "directory's secret.key) safe separately, or the stored Halo secrets cannot be read."
    )
