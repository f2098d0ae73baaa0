"""Records of one run held on disk instead of in memory: a bounded scratch store.

A usage sync at 100,000 pairs must not hold 100,000 Halo records or results at once.
:class:`Spill` keeps records (pickled; written and read back by this process only, never
from outside) in a private temporary SQLite database of the standard library, as the
import's :mod:`halosync.store.spool` does: a bounded page cache in memory, the rest in a
temporary file deleted when it is closed. A record may carry an id (unique: a later put
replaces it) and a place (the Halo client or recurring invoice it belongs to), both
indexed, so one chunk's records are found without reading the others.
"""

from __future__ import annotations

import pickle
import sqlite3
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Generic, TypeVar, overload

T = TypeVar("T")

_CACHE_KIB = 8 * 1024
"""The page cache a spill may keep in memory (KiB); the rest waits in its temporary file."""
_PAGE = 2000
"""Rows read back per fetch, and ids per ``IN (...)`` (under SQLite's parameter limit)."""


def scratch_connection(owner: object, cache_kib: int) -> sqlite3.Connection:
    """A private temporary SQLite database for ``owner``, closed when ``owner`` goes: in
    memory up to ``cache_kib`` of page cache, then in a temporary file deleted with it."""
    connection = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    weakref.finalize(owner, connection.close)
    connection.execute(f"PRAGMA cache_size=-{cache_kib}")
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    return connection


class Spill(Generic[T]):
    """Records in the order they came, found by id, by place or by position."""

    def __init__(self) -> None:
        connection = scratch_connection(self, _CACHE_KIB)
        connection.execute(
            "CREATE TABLE spill (seq INTEGER PRIMARY KEY, id INTEGER UNIQUE, place INTEGER, "
            "data BLOB NOT NULL)"
        )
        connection.execute("CREATE INDEX spill_place ON spill (place)")
        # One transaction for the spill's whole life: nothing of it needs to last.
        connection.execute("BEGIN")
        self._connection = connection
        self._count: int | None = 0

    def add(self, records: Iterable[tuple[int | None, int | None, T]]) -> None:
        """Keep ``(id, place, record)`` triples; a record with an id already kept replaces it."""
        rows = [(record_id, place, pickle.dumps(record)) for record_id, place, record in records]
        if not rows:
            return
        self._connection.executemany(
            "INSERT OR REPLACE INTO spill (id, place, data) VALUES (?, ?, ?)", rows
        )
        self._count = None

    def add_new(self, records: Iterable[tuple[int, int | None, T]]) -> int:
        """Keep the records whose id is not kept yet (the first of two with one id); the
        others stay as they are. Returns how many were kept."""
        rows = [(record_id, place, pickle.dumps(record)) for record_id, place, record in records]
        if not rows:
            return 0
        cursor = self._connection.executemany(
            "INSERT OR IGNORE INTO spill (id, place, data) VALUES (?, ?, ?)", rows
        )
        self._count = None
        return cursor.rowcount

    def remove(self, ids: Collection[int]) -> None:
        """Forget the records with these ids."""
        for part in _parts(sorted(ids)):
            self._connection.execute(
                f"DELETE FROM spill WHERE id IN ({_marks(part)})",  # noqa: S608 - only ?s
                part,
            )
        self._count = None

    def by_ids(self, ids: Collection[int]) -> dict[int, T]:
        """The records kept under these ids (those not kept are left out)."""
        found: dict[int, T] = {}
        for part in _parts(sorted(ids)):
            for record_id, data in self._connection.execute(
                f"SELECT id, data FROM spill WHERE id IN ({_marks(part)})",  # noqa: S608
                part,
            ):
                found[record_id] = _loads(data)
        return found

    def present(self, ids: Collection[int]) -> set[int]:
        """Which of these ids are kept."""
        found: set[int] = set()
        for part in _parts(sorted(ids)):
            found.update(
                row[0]
                for row in self._connection.execute(
                    f"SELECT id FROM spill WHERE id IN ({_marks(part)})",  # noqa: S608
                    part,
                )
            )
        return found

    def in_places(self, places: Collection[int]) -> list[T]:
        """The records of these places, in the order they came."""
        rows: list[tuple[int, bytes]] = []
        for part in _parts(sorted(places)):
            rows += self._connection.execute(
                f"SELECT seq, data FROM spill WHERE place IN ({_marks(part)})",  # noqa: S608
                part,
            ).fetchall()
        rows.sort()
        return [_loads(data) for _, data in rows]

    def __len__(self) -> int:
        if self._count is None:
            self._count = int(self._connection.execute("SELECT count(*) FROM spill").fetchone()[0])
        return self._count

    def __iter__(self) -> Iterator[T]:
        return self.slice(0, len(self))

    def slice(self, start: int, stop: int) -> Iterator[T]:
        """The records at positions ``start`` to ``stop`` (exclusive), read a page at a time."""
        cursor = self._connection.execute(
            "SELECT data FROM spill ORDER BY seq LIMIT ? OFFSET ?",
            (max(stop - start, 0), start),
        )
        while page := cursor.fetchmany(_PAGE):
            for (data,) in page:
                yield _loads(data)

    def close(self) -> None:
        """Delete the spill (its temporary file goes with it)."""
        self._connection.close()
        self._count = 0


class SpilledSequence(Sequence[T]):
    """A read-only sequence over a :class:`Spill`, read back a page at a time."""

    def __init__(self, spill: Spill[T]) -> None:
        self._spill = spill

    def __len__(self) -> int:
        return len(self._spill)

    def __iter__(self) -> Iterator[T]:
        return iter(self._spill)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return tuple(self)[index]
        size = len(self)
        position = index + size if index < 0 else index
        if not 0 <= position < size:
            raise IndexError(index)
        return next(self._spill.slice(position, position + 1))


class SortedIds(Collection[int]):
    """A set of ids as a sorted array: 8 bytes an id instead of a set's ≈ 60."""

    def __init__(self, ids: Iterable[int]) -> None:
        self._ids = array("q", sorted(ids))

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        index = bisect_left(self._ids, value)
        return index < len(self._ids) and self._ids[index] == value

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def _loads(data: bytes) -> T:  # type: ignore[type-var]
    return pickle.loads(data)  # type: ignore[no-any-return]  # noqa: S301 - our own records


def _parts(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _PAGE):
        yield values[start : start + _PAGE]


def _marks(values: Sequence[int]) -> str:
    return ", ".join("?" for _ in values)
