"""Halo's list and write response shapes: wrapped or bare, and the paging bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Suspect:
    """A forward page that repeated the one before it, until the previous page is read again."""

    ids: list[Any]
    record_count: int | None


REREAD_BUDGET = 10
"""Pages one list read may read a second time, when Halo's total drops between two pages."""


@dataclass(frozen=True)
class PagingReport:
    """How one list read went: its requests, and whether Halo's list moved meanwhile."""

    entity: str
    requests: int
    rereads: int
    records: int
    first_count: int | None
    last_count: int | None
    changed: bool
    """Halo's list changed between pages: a record may have slipped past unseen."""
    truncated: bool
    """A page held fewer records than Halo's own total says it should have."""

    @property
    def settled(self) -> bool:
        """Nothing suggests a record was missed (a record deleted and another created
        between two pages still can be: confirm what must exist by id)."""
        return not (self.changed or self.truncated)


class PageTracker:
    """Reads a list that may change between pages, never giving up because it does.

    A live Halo adds and deletes records while halosync pages through them: a record seen
    on one page shows up again on the next when records were added before it, and one
    slips back onto a page already read when records were deleted before it. The forward
    pass ends at a short (or empty) page, whatever Halo's total says. Records are
    passed on once, by id. A drop in Halo's total marks the positions a record may have
    slipped into, and those pages are read again, newest first (at most ``reread_budget``
    pages per list). The report says whether the list held still. A page that repeats the
    previous one while the total stays put is paging that does not advance only if the
    previous page, read again at once, still holds the same records (a list that moved a
    whole page on between two reads repeats a page too): that raises, unless the records seen
    are already as many as the total (Halo ignored paging: page 1 was all).

    Drive it with ``while (page := tracker.next_page) is not None: tracker.add(rows, total)``.
    """

    def __init__(self, entity: str, page_size: int, *, reread_budget: int = REREAD_BUDGET):
        self.entity = entity
        self.page_size = page_size
        self.next_page: int | None = 1
        # Positions are indexes into Halo's list as it is now. The forward pass has read
        # everything below ``_frontier``; an unseen record may sit in [_low, _high).
        self._frontier = 0
        self._low = self._high = 0
        self._forward_full = True
        self._forward_ids: list[Any] | None = None
        self._forward_count: int | None = None
        self._rereading = False
        self._suspect: _Suspect | None = None
        self._budget = reread_budget
        self._seen: set[Any] = set()
        self._first_count: int | None = None
        self._last_count: int | None = None
        self._requests = 0
        self._rereads = 0
        self._records = 0
        self._changed = False
        self._truncated = False

    def add(self, rows: Sequence[dict[str, Any]], record_count: int | None) -> list[dict[str, Any]]:
        """Account for the answer to ``next_page``; the records not passed on before."""
        page = self.next_page
        if page is None:
            raise RuntimeError("the list has been read; there is no page to add")
        again = self._rereading
        self._requests += 1
        ids = [row.get("id") for row in rows]
        if self._suspect is not None:
            suspect, self._suspect = self._suspect, None
            if ids == suspect.ids and record_count == suspect.record_count:
                raise PagingInconsistentError(
                    f"Page {page + 1} of the {self.entity} list repeats page {page} (records "
                    f"{ids[0]}..{ids[-1]}), and page {page} read again still holds them; "
                    "Halo's paging is not advancing.",
                    fix="Read it again; if it persists, report it with this message.",
                )
        repeats = (
            not again
            and page > 1
            and bool(rows)
            and None not in ids
            and ids == self._forward_ids
            and record_count in (None, self._forward_count)
        )
        if repeats and record_count is not None and len(self._seen) == record_count:
            # Halo ignored page_size and page_no: page 1 already held every record it
            # counts, and every page repeats it. The list is whole.
            self._forward_full = False
            self.next_page = self._next()
            return []
        fresh = self._fresh(rows, again=again)
        self._count(record_count)
        if again:
            self._rereads += 1
            self._rereading = False
            if fresh:
                self._changed = True
            start, end = (page - 1) * self.page_size, page * self.page_size
            if start < self._high <= end:
                self._high = max(self._low, start)
        else:
            if len(fresh) < len(rows):
                self._changed = True  # records were added before these, pushing some on
            self._forward_ids = ids
            self._forward_count = record_count
            self._forward_full = self._page_was_full(page, rows, record_count)
            self._frontier = page * self.page_size
        if record_count is not None:
            self._high = min(self._high, record_count)
        if repeats:
            # A page that repeats the one before is paging that does not advance, or a list
            # that moved a whole page on with its total unchanged (records added before
            # these, as many deleted after). Only the previous page read again tells: it
            # still holds these records only if paging does not advance (two pages of one
            # list at one moment never share a record).
            self._suspect = _Suspect(ids, record_count)
            self._rereading = True
            self.next_page = page - 1
            return fresh
        self.next_page = self._next()
        return fresh

    def _count(self, record_count: int | None) -> None:
        """Note Halo's total; a drop means records may have slipped below the frontier."""
        if record_count is None:
            return
        previous = self._last_count
        if self._first_count is None:
            self._first_count = record_count
        self._last_count = record_count
        if previous is None or record_count == previous:
            return
        self._changed = True
        if record_count < previous:
            # Each deletion before a position moves the records after it one place back.
            deleted = previous - record_count
            low = self._low if self._low < self._high else self._frontier
            self._low = max(0, low - deleted)
            self._high = self._frontier

    def _fresh(self, rows: Sequence[dict[str, Any]], *, again: bool) -> list[dict[str, Any]]:
        fresh: list[dict[str, Any]] = []
        for row in rows:
            row_id = row.get("id")
            if row_id is None:
                if again:
                    continue  # without an id it cannot be told apart from the first reading
            elif row_id in self._seen:
                continue
            else:
                self._seen.add(row_id)
            fresh.append(row)
        self._records += len(fresh)
        return fresh

    def _page_was_full(
        self, page: int, rows: Sequence[dict[str, Any]], record_count: int | None
    ) -> bool:
        """Whether the forward pass goes on after this page."""
        if len(rows) >= self.page_size:
            return True
        if record_count is None:
            return False
        if page == 1 and rows and record_count > len(rows):
            # The instance caps page_size below what was asked: page by its size instead.
            self.page_size = len(rows)
            return True
        if (page - 1) * self.page_size + len(rows) < record_count:
            # Halo holds more than this page reached. Read on past it (an empty page ends
            # the list); the list is marked truncated so no one takes it as whole.
            self._truncated = True
            return bool(rows)
        return False

    def _next(self) -> int | None:
        if self._low < self._high and self._budget > 0:
            self._budget -= 1
            self._rereading = True
            return -(-self._high // self.page_size)
        if not self._forward_full:
            return None
        # A full page goes on to the next even when Halo's total says the list is read: the
        # rows returned count, never record_count (a total too small would truncate it).
        return self._frontier // self.page_size + 1

    def report(self) -> PagingReport:
        """What the read did and found so far."""
        return PagingReport(
            entity=self.entity,
            requests=self._requests,
            rereads=self._rereads,
            records=self._records,
            first_count=self._first_count,
            last_count=self._last_count,
            changed=self._changed,
            truncated=self._truncated,
        )
