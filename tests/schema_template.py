"""A new SQLite test database with the newest schema, copied instead of migrated.

Alembic from empty (every migration, one after the other) costs about 0.1 s of CPU per
database, as much as many a small test itself. :func:`migrated` copies a SQLite database
that this process migrated once, then runs ``migrate()`` on the copy (one query: the copy
is at the head). PostgreSQL schemas and existing files are migrated as they are. The
migrations themselves are run from empty, undone and checked against the models in
``tests/store/test_migrations.py``, as the web UI's tests copy a built world
(``tests/web/ui/world.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from halosync.store.database import Database


@functools.cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="halosync-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.migrate()
    finally:
        database.dispose()
    # Everything in the main file (WAL mode is kept in it), so that copying it copies all.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    return path


def migrated(database: Database) -> Database:
    """``database`` at the newest schema; a SQLite file not created yet starts as a copy."""
    if database.dialect == "sqlite":
        name = make_url(database.url).database or ""
        if database.shared_by_processes and not name.startswith("file:"):
            target = Path(name)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_template(), target)
    database.migrate()
    return database
