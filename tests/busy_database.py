"""A database another process keeps busy, for the tests of what users are told then."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from halosync.store.database import Database


@contextmanager
def locked(database: Database) -> Iterator[None]:
    """Another process holds ``database``'s write lock; halosync's connections wait for it
    no time at all (instead of 30 s)."""

    def no_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    event.listen(database.engine, "connect", no_wait)
    database.engine.dispose()
    path = database.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()
        event.remove(database.engine, "connect", no_wait)
        database.engine.dispose()


@contextmanager
def locked_until_refused(database: Database) -> Iterator[list[str]]:
    """Another process holds ``database``'s write lock until a halosync statement is refused
    for it, then lets go: as when a write waited its 30 s and the other work ended just
    after, so what happens next (a flash saved with the session) is written as it would be.

    Yields the refusals seen (one at most), so a test can tell a route that never wrote.
    """
    refused: list[str] = []
    other: sqlite3.Connection | None = None

    def no_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    def let_go(context: Any) -> None:
        nonlocal other
        if other is not None and "locked" in str(context.original_exception).lower():
            refused.append(str(context.original_exception))
            other.execute("ROLLBACK")
            other.close()
            other = None

    event.listen(database.engine, "connect", no_wait)
    event.listen(database.engine, "handle_error", let_go)
    database.engine.dispose()
    path = database.engine.url.database
    assert path
    # Let go from whichever thread the refused statement ran in (the web's thread pool).
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield refused
    finally:
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        event.remove(database.engine, "handle_error", let_go)
        event.remove(database.engine, "connect", no_wait)
        database.engine.dispose()
