"""Validated subscriptions of one import, held on disk instead of in memory.

An import of 1,000,000 rows must not hold 1,000,000 rows: each validated subscription
goes into a private temporary SQLite database (the standard library's, never the app's
database), which keeps only a bounded page cache in memory and spills the rest to a
temporary file deleted when it is closed. One subscription per account, service and term
(in any letter case: the caller's term key): the spool answers, as each arrives, whether
that one was given before and how.

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
# The stored values, then which optional ones were given (staging.given_of).
_VALUES = (*SUBSCRIPTION_VALUES, "given")
# A subscription's key is three small numbers (its account's, service's and term's, in the
# order each was first given), not its texts: the unique index on the texts was half the
# spool's cost at 1,000,000 rows, once it outgrew the page cache.
_KEY = ("account", "service", "term_key")
_COLUMNS = (*_KEY, *_VALUES, "location", "style")
# Built from the constant column names above only (never from input).
_INSERT = (
    f"INSERT OR IGNORE INTO spool ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_FIRST = (
    f"SELECT {', '.join(_VALUES)}, location, style FROM spool "  # noqa: S608
    "WHERE account = ? AND service = ? AND term_key = ?"
)
# Where the term sits in the stored values: it is part of a subscription's key.
TERM_INDEX = _VALUES.index("term")
_ROWS = (
    f"SELECT account, service, {', '.join(_VALUES)} FROM spool "  # noqa: S608
    "ORDER BY seq LIMIT -1 OFFSET ?"
)
_LOCATED = "SELECT account, service, location, style FROM spool ORDER BY seq"

# What the spool holds per subscription: its stored values (quantity, start date, end date,
# billing cycle, term, status, cost price, customer price), then which optional ones it
# gave.
StoredValues = tuple[Any, ...]
# A subscription as rows() gives it back: (account_ref, service_ref, *StoredValues).
SpooledRow = tuple[Any, ...]


class _Numbers:
    """Texts numbered in the order they were first given."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.text: list[str] = []

    def of(self, text: str) -> int:
        number = self.number.get(text)
        if number is None:
            number = self.number[text] = len(self.text)
            self.text.append(text)
        return number


class SubscriptionSpool:
    """Subscriptions keyed by ``(account_ref, service_ref, term key)``, in the order they came."""

    def __init__(self) -> None:
        self._connection: sqlite3.Connection | None = None
        self._count = 0
        self._accounts = _Numbers()
        self._services = _Numbers()
        self._terms = _Numbers()

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = scratch_connection(self, _CACHE_KIB)
            connection.execute(
                "CREATE TABLE spool (seq INTEGER PRIMARY KEY, "
                + ", ".join(_COLUMNS)
                + f", UNIQUE ({', '.join(_KEY)}))"
            )
            # One transaction for the spool's whole life: nothing of it needs to last.
            connection.execute("BEGIN")
            self._connection = connection
        return self._connection

    def add(
        self,
        account_ref: str,
        service_ref: str,
        term_key: str,
        values: StoredValues,
        location: tuple[str, str],
    ) -> tuple[StoredValues, tuple[str, str]] | None:
        """Keep a subscription; when the same account, service and term (``term_key``:
        what makes two terms one) were given before, keep the first and return its values
        and location (``(base, style)``) instead."""
        connection = self._open()
        key = (
            self._accounts.of(account_ref),
            self._services.of(service_ref),
            self._terms.of(term_key),
        )
        cursor = connection.execute(_INSERT, (*key, *values, *location))
        if cursor.rowcount:
            self._count += 1
            return None
        first = connection.execute(_FIRST, key).fetchone()
        return tuple(first[: len(_VALUES)]), (first[-2], first[-1])

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        """Forget every subscription (a repeated ``subscriptions`` member replaces them)."""
        if self._connection is not None:
            self._connection.execute("DELETE FROM spool")
        self._count = 0
        self._accounts, self._services, self._terms = _Numbers(), _Numbers(), _Numbers()

    def rows(self, start: int = 0) -> Iterator[SpooledRow]:
        """``(account_ref, service_ref, *values)`` of each subscription, in order, from
        the ``start``-th on (counting from 0)."""
        if self._connection is None:
            return
        accounts, services = self._accounts.text, self._services.text
        cursor = self._connection.execute(_ROWS, (start,))
        while chunk := cursor.fetchmany(5000):
            for account, service, *values in chunk:
                yield (accounts[account], services[service], *values)

    def located(self) -> Iterator[tuple[str, str, str, str]]:
        """``(account_ref, service_ref, location, style)`` of each subscription, in order."""
        if self._connection is None:
            return
        accounts, services = self._accounts.text, self._services.text
        cursor = self._connection.execute(_LOCATED)
        while chunk := cursor.fetchmany(5000):
            for account, service, location, style in chunk:
                yield (accounts[account], services[service], location, style)

    def account_refs(self) -> Iterator[str]:
        """Every account reference the subscriptions name, once each."""
        yield from self._accounts.text

    def service_refs(self) -> Iterator[str]:
        """Every service reference the subscriptions name, once each."""
        yield from self._services.text

    def close(self) -> None:
        """Delete the spool (its temporary file goes with it)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._count = 0
