"""``halosync db backup``: a consistent copy of a live SQLite database.

SQLite's online backup API copies the pages under a read transaction, so syncs and the
web UI keep working (WAL mode lets them write meanwhile) and the copy is a snapshot of
one moment. PostgreSQL is backed up with ``pg_dump`` instead; the error says how.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from halosync.database_url import sqlite_file
from halosync.errors import ValidationFailedError
from halosync.files import create_private_file, explained, file_access_error
from halosync.ops.checks import display_url
from halosync.store.backup import copy_sqlite


@dataclass(frozen=True)
class BackupReport:
    """What was copied where."""

    source: Path
    destination: Path
    size_bytes: int


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; a clear error for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        password_free = url.set(drivername="postgresql").render_as_string(hide_password=True)
        raise ValidationFailedError(
            "halosync db backup copies SQLite databases; this one is PostgreSQL.",
            fix=f"Back it up with pg_dump: pg_dump --format=custom --file BACKUP.dump "
            f"'{display_url(password_free)}' (restore with pg_restore).",
        )
    path = sqlite_file(database_url)
    if path is None:
        raise ValidationFailedError(
            f"Cannot back up {display_url(database_url)}: not a SQLite database file."
        )
    return path


def backup_sqlite(database_url: str, destination: Path, *, overwrite: bool = False) -> BackupReport:
    """Copy the live SQLite database to ``destination`` (owner-only), checked afterwards.

    The copy is written next to ``destination`` and renamed into place only once it
    passed SQLite's integrity check, so a failed backup never leaves a half file there.
    """
    source = sqlite_path(database_url)
    if not source.is_file():
        raise ValidationFailedError(f"There is no database file at {source}.")
    destination = destination.expanduser().resolve()
    if destination.resolve() == source.resolve():
        raise ValidationFailedError("The backup must not overwrite the database itself.")
    if destination.exists() and not overwrite:
        raise ValidationFailedError(
            f"{destination} already exists.", fix="Choose a new file name, or pass --overwrite."
        )
    if not destination.parent.is_dir():
        raise ValidationFailedError(f"The folder {destination.parent} does not exist.")
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        with explained(destination, "the backup"):
            partial.unlink(missing_ok=True)
            # Owner-only from the first byte: the copy holds encrypted secrets and password
            # hashes.
            create_private_file(partial)
            copy_sqlite(source, partial)
            os.replace(partial, destination)
    except sqlite3.OperationalError as error:
        if "full" not in str(error):
            raise
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise file_access_error(destination, "the backup", full) from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(source, destination, destination.stat().st_size)
