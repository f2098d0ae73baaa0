"""Halo's list and write response shapes: wrapped or bare, and the paging bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from halosync.halopsa.errors import HaloResponseError, PagingInconsistentError

# List wrapper key per entity (route names are case-insensitive; keys follow Halo's answers).
LIST_KEYS: dict[str, str] = {
    "client": "clients",
    "site": "sites",
    "item": "items",
    "invoice": "invoices",
    "recurringinvoice": "invoices",
    "clientcontract": "contracts",
    "softwarelicence": "licences",
    "tickets": "tickets",
}
_META_KEYS = frozenset({"record_count", "page_no", "page_size", "columns_id", "columns"})
DEFAULT_PAGE_SIZE = 100


def list_key(entity: str) -> str | None:
    """The wrapper key Halo uses for an entity's list, if known."""
    return LIST_KEYS.get(entity.strip("/").split("/", 1)[0].lower())


def unwrap_list(body: Any, key: str | None) -> tuple[list[dict[str, Any]], int | None]:
    """Rows and ``record_count`` (None for a bare array) of one list page."""
    if isinstance(body, list):
        return _rows(body), None
    if not isinstance(body, dict):
        raise HaloResponseError(f"Halo answered a list request with {type(body).__name__}.")
    record_count = body.get("record_count")
    if record_count is not None and not isinstance(record_count, int):
        raise HaloResponseError(f"Halo's record_count is not a number: {record_count!r}.")
    if key is not None and key in body:
        return _rows(body[key]), record_count
    lists = [k for k, v in body.items() if k not in _META_KEYS and isinstance(v, list)]
    if len(lists) == 1:
        return _rows(body[lists[0]]), record_count
    if not lists and record_count == 0:
        return [], 0
    raise HaloResponseError(
        f"Halo's list answer has no recognisable rows (keys: {', '.join(sorted(body))})."
    )


def _rows(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise HaloResponseError("Halo's list answer holds something other than records.")
    return value


def unwrap_written(body: Any, key: str | None, sent: int) -> list[dict[str, Any]]:
    """The saved records of a POST in the order sent: bare object, array or wrapped array."""
    rows: list[dict[str, Any]]
    if isinstance(body, list):
        rows = _rows(body)
    elif isinstance(body, dict):
        if key is not None and isinstance(body.get(key), list):
            rows = _rows(body[key])
        elif "id" in body:
            rows = [body]
        else:
            lists = [k for k, v in body.items() if k not in _META_KEYS and isinstance(v, list)]
            if len(lists) != 1:
                raise HaloResponseError("Halo's answer to a write has no recognisable records.")
            rows = _rows(body[lists[0]])
    else:
        raise HaloResponseError(f"Halo answered a write with {type(body).__name__}.")
    if len(rows) != sent:
        raise HaloResponseError(
            f"Halo answered a write of {sent} record(s) with {len(rows)}; cannot tell which "
            "result belongs to which record."
        )
    return rows


@dataclass
class PageTracker:
    """Checks a sequence of pages adds up: never stop short, never read a record twice."""

    entity: str
    page_size: int
    expected: int | None = None
    read: int = 0
    pages: int = 0
    _seen_ids: set[Any] = field(default_factory=set)

    def add(self, rows: Sequence[dict[str, Any]], record_count: int | None) -> bool:
        """Account for one page; True when the list is complete."""
        self.pages += 1
        if record_count is not None:
            if self.expected is None:
                self.expected = record_count
            elif record_count != self.expected:
                raise PagingInconsistentError(
                    f"The {self.entity} list changed while it was being read (Halo reported "
                    f"{self.expected} records, then {record_count}).",
                    fix="Read it again; nothing was written.",
                )
        for row in rows:
            row_id = row.get("id")
            if row_id is not None:
                if row_id in self._seen_ids:
                    raise PagingInconsistentError(
                        f"Page {self.pages} of the {self.entity} list repeats record {row_id}; "
                        "Halo's paging is not advancing.",
                        fix="Read it again; if it persists, report it with this message.",
                    )
                self._seen_ids.add(row_id)
        self.read += len(rows)
        if self.expected is None:
            return len(rows) < self.page_size
        if self.read > self.expected:
            raise PagingInconsistentError(
                f"Read {self.read} {self.entity} records but Halo reported {self.expected}.",
                fix="Read it again; nothing was written.",
            )
        if self.read == self.expected:
            return True
        if rows and self.pages == 1 and len(rows) < self.page_size:
            # The instance caps page_size below what was asked: page by its size instead.
            self.page_size = len(rows)
            return False
        if len(rows) < self.page_size:
            raise PagingInconsistentError(
                f"Page {self.pages} of the {self.entity} list came back short ({len(rows)} of "
                f"{self.page_size} rows) after {self.read} of {self.expected} records.",
                fix="Read it again; halosync never works from a truncated list.",
            )
        return False
