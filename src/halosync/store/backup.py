"""SQLite's online backup: a consistent copy of a live database file, page by page under a
read transaction (the rules of ``halosync db backup``, where the copy goes and when, live
in :mod:`halosync.ops.backup`)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from halosync.errors import HalosyncError


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` into the (new, empty) file ``target``, as one
    file readable by any SQLite, and check the copy's integrity."""
    # A read-only handle on the source: the backup can never change the live database.
    with (
        contextlib.closing(
            sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=30)
        ) as live,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        try:
            live.backup(copy)
        except sqlite3.Error as error:
            raise HalosyncError(f"The backup of {source} failed: {error}.") from error
        # One file, no -wal beside it, readable by any SQLite.
        copy.execute("PRAGMA journal_mode=DELETE")
        verdict = copy.execute("PRAGMA integrity_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise HalosyncError(f"The backup copy of {source} failed its integrity check.")
