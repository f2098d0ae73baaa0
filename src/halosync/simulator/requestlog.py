"""A log of the requests the simulator received, for tests to inspect."""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestLogEntry:
    """One request: what came in, what went out, and which fault (if any) shaped it."""

    method: str
    path: str
    query: str
    status: int
    time: float
    body_size: int
    response_size: int
    client_id: str | None = None
    fault: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


class RequestLog:
    """Entries in arrival order, capped at ``limit`` (the oldest are dropped)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: list[RequestLogEntry] = []
        self._limit = limit
        self._lock = threading.Lock()

    def append(self, entry: RequestLogEntry) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                # Trim in chunks so appending stays amortised O(1).
                del self._entries[: len(self._entries) - self._limit + self._limit // 10]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[RequestLogEntry]:
        """A snapshot of every entry."""
        with self._lock:
            return list(self._entries)

    def filter(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        since: float | None = None,
    ) -> list[RequestLogEntry]:
        """Entries matching all given criteria; ``path`` is a case-insensitive glob."""
        pattern = path.lower() if path else None
        wanted_method = method.upper() if method else None
        return [
            entry
            for entry in self.entries()
            if (wanted_method is None or entry.method == wanted_method)
            and (pattern is None or fnmatch.fnmatchcase(entry.path.lower(), pattern))
            and (status is None or entry.status == status)
            and (since is None or entry.time >= since)
        ]

    def __iter__(self) -> Iterator[RequestLogEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> RequestLogEntry:
        with self._lock:
            return self._entries[index]
