"""Validated subscriptions of one import, held on disk instead of in memory.

An import of 1,000,000 rows must not hold 1,000,000 rows: each validated subscription
goes into a private temporary SQLite database (the standard library's, never the app's
database), which keeps only a bounded page cache in memory and spills the rest to a
temporary file deleted when it is closed. One subscription per account, service and term:
the spool answers, as each arrives, whether that one was given before and how.

Values are kept as the app database stores them: dates as ``YYYY-MM-DD`` text, amounts
as decimal text with four places, so they can be copied (PostgreSQL ``COPY``, SQLite
``executemany``) without converting them again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from halosync.store.models import SUBSCRIPTION_VALUES
from halosync.store.scratch import scratch_connection

# The page cache the spool may keep in memory (KiB); the rest waits in its temporary file.
_CACHE_KIB = 16 * 1024
# ref, ref, then the values in SUBSCRIPTION_VALUES order, then where the row came from.
_VALUES = SUBSCRIPTION_VALUES
_COLUMNS = ("account_ref", "service_ref", *_VALUES, "location", "style")
# Built from the constant column names above only (never from input).
_INSERT = (
    f"INSERT OR IGNORE INTO spool ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_FIRST = (
    f"SELECT {', '.join(_VALUES)}, location, style FROM spool "  # noqa: S608
    "WHERE account_ref = ? AND service_ref = ? AND term = ? COLLATE NOCASE"
)
# Where the term sits in the stored values: it is part of a subscription's key.
TERM_INDEX = _VALUES.index("term")
_ROWS = f"SELECT account_ref, service_ref, {', '.join(_VALUES)} FROM spool ORDER BY seq"  # noqa: S608
_DISTINCT = {
    "account_ref": "SELECT DISTINCT account_ref FROM spool",
    "service_ref": "SELECT DISTINCT service_ref FROM spool",
}

# What the spool holds per subscription: its stored values (quantity, start date, end date,
# billing cycle, term, status, cost price, customer price).
StoredValues = tuple[Any, ...]


class SubscriptionSpool:
    """Subscriptions keyed by ``(account_ref, service_ref, term)``, in the order they came."""

    def __init__(self) -> None:
        self._connection: sqlite3.Connection | None = None
        self._count = 0

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = scratch_connection(self, _CACHE_KIB)
            connection.execute(
                "CREATE TABLE spool (seq INTEGER PRIMARY KEY, "
                + ", ".join(_COLUMNS)
                # A term is one term whatever its letter case ("Annual" and "annual").
                + ", UNIQUE (account_ref, service_ref, term COLLATE NOCASE))"
            )
            # One transaction for the spool's whole life: nothing of it needs to last.
            connection.execute("BEGIN")
            self._connection = connection
        return self._connection

    def add(
        self, account_ref: str, service_ref: str, values: StoredValues, location: tuple[str, str]
    ) -> tuple[StoredValues, tuple[str, str]] | None:
        """Keep a subscription; when the same account, service and term were given before,
        keep the first and return its values and location (``(base, style)``) instead."""
        connection = self._open()
        cursor = connection.execute(_INSERT, (account_ref, service_ref, *values, *location))
        if cursor.rowcount:
            self._count += 1
            return None
        first = connection.execute(
            _FIRST, (account_ref, service_ref, values[TERM_INDEX])
        ).fetchone()
        return tuple(first[: len(_VALUES)]), (first[-2], first[-1])

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        """Forget every subscription (a repeated ``subscriptions`` member replaces them)."""
        if self._connection is not None:
            self._connection.execute("DELETE FROM spool")
        self._count = 0

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """``(account_ref, service_ref, *values)`` of each subscription, in order."""
        if self._connection is None:
            return
        cursor = self._connection.execute(_ROWS)
        while chunk := cursor.fetchmany(5000):
            yield from chunk

    def located(self) -> Iterator[tuple[str, str, str, str]]:
        """``(account_ref, service_ref, location, style)`` of each subscription, in order."""
        if self._connection is None:
            return
        cursor = self._connection.execute(
            "SELECT account_ref, service_ref, location, style FROM spool ORDER BY seq"
        )
        while chunk := cursor.fetchmany(5000):
            yield from chunk

    def account_refs(self) -> Iterator[str]:
        """Every account reference the subscriptions name, once each."""
        yield from self._distinct("account_ref")

    def service_refs(self) -> Iterator[str]:
        """Every service reference the subscriptions name, once each."""
        yield from self._distinct("service_ref")

    def _distinct(self, column: str) -> Iterator[str]:
        if self._connection is None:
            return
        cursor = self._connection.execute(_DISTINCT[column])
        while chunk := cursor.fetchmany(5000):
            for (ref,) in chunk:
                yield ref

    def close(self) -> None:
        """Delete the spool (its temporary file goes with it)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._count = 0
