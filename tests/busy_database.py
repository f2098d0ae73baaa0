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
