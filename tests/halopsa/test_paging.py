"""List and write response shapes, and the paging bookkeeping that never truncates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from halosync.halopsa.errors import HaloResponseError, PagingInconsistentError
from halosync.halopsa.paging import PageTracker, list_key, unwrap_list, unwrap_written


def _rows(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in range(start, start + n)]


def test_list_keys_follow_halo() -> None:
    assert list_key("SoftwareLicence") == "licences"
    assert list_key("recurringinvoice") == "invoices"
    assert list_key("Client/5") == "clients"


def test_unwrap_wrapped_bare_and_unknown_key() -> None:
    assert unwrap_list({"record_count": 2, "clients": _rows(1, 2)}, "clients") == (_rows(1, 2), 2)
    assert unwrap_list(_rows(1, 3), "items") == (_rows(1, 3), None)
    assert unwrap_list(
        {"record_count": 1, "page_no": 1, "softwarelicences": _rows(1, 1)}, "licences"
    ) == (
        _rows(1, 1),
        1,
    )
    assert unwrap_list({"record_count": 0}, "items") == ([], 0)
    with pytest.raises(HaloResponseError, match="no recognisable rows"):
        unwrap_list({"a": [], "b": []}, "items")
    with pytest.raises(HaloResponseError):
        unwrap_list("oops", "items")


def test_unwrap_written_shapes() -> None:
    assert unwrap_written({"id": 5, "name": "x"}, "licences", 1) == [{"id": 5, "name": "x"}]
    assert unwrap_written(_rows(1, 2), "licences", 2) == _rows(1, 2)
    assert unwrap_written({"licences": _rows(1, 2)}, "licences", 2) == _rows(1, 2)
    with pytest.raises(HaloResponseError, match="cannot tell which"):
        unwrap_written(_rows(1, 1), "licences", 2)


Fetch = Callable[[int], tuple[list[dict[str, Any]], int | None]]


def _drive(tracker: PageTracker, fetch: Fetch) -> list[Any]:
    """Read every page the tracker asks for; the ids it passes on, in order."""
    got: list[Any] = []
    while (page := tracker.next_page) is not None:
        rows, count = fetch(page)
        got.extend(row["id"] for row in tracker.add(rows, count))
    return got


def _server(items: list[int], page_size: int, wrapped: bool = True) -> Fetch:
    def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
        rows = [{"id": i} for i in items[(page - 1) * page_size : page * page_size]]
        return rows, len(items) if wrapped else None

    return fetch


@given(total=st.integers(0, 450), page_size=st.integers(1, 100), wrapped=st.booleans())
@settings(max_examples=60)
def test_a_list_that_holds_still_is_read_exactly_once(
    total: int, page_size: int, wrapped: bool
) -> None:
    items = list(range(1, total + 1))
    tracker = PageTracker("Client", page_size)
    assert _drive(tracker, _server(items, page_size, wrapped)) == items
    report = tracker.report()
    assert report.settled
    assert report.records == total
    assert report.rereads == 0
    pages = max(1, -(-total // page_size))
    # A full last page is followed by one more (empty) page, Halo's total or not: only a
    # short page says the list has ended (a total too small must not truncate it).
    extra = 1 if total and total % page_size == 0 else 0
    assert report.requests == pages + extra


# A change between two page reads: ("delete" | "insert", position as a share of the list).
Change = tuple[str, float]


@st.composite
def _changing_reads(draw: st.DrawFn) -> tuple[list[int], int, list[list[Change]]]:
    page_size = draw(st.integers(1, 12))
    items = list(range(1, draw(st.integers(0, 60)) + 1))
    kinds = draw(st.sampled_from([("delete",), ("insert",), ("delete", "insert")]))
    gaps = draw(
        st.lists(
            st.lists(st.tuples(st.sampled_from(kinds), st.floats(0, 1)), max_size=page_size),
            max_size=20,
        )
    )
    return items, page_size, gaps


@given(_changing_reads())
@settings(max_examples=300)
# Two deletions (the second makes page 1 read again), then a record added at the front:
# page 3 repeats page 2 exactly, total unchanged, yet paging advanced (it once raised).
@example(([1, 2, 3, 4], 1, [[], [("delete", 0.0)], [("delete", 1.0)], [("insert", 0.0)]]))
def test_a_list_that_changes_between_pages_is_read_tolerantly(
    case: tuple[list[int], int, list[list[Change]]],
) -> None:
    """Records added or deleted between pages: each record is passed on once, a record
    present all along is never missed while only deletions (or only additions) happen,
    and a moved total is reported rather than raised."""
    items, page_size, gaps = case
    live = list(items)
    counts: list[int] = []
    fresh_ids = iter(range(1000, 10_000))
    present_all_along = set(items)
    requests = 0

    def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
        nonlocal requests
        if requests < len(gaps):
            for kind, share in gaps[requests]:
                at = min(int(share * len(live)), max(len(live) - 1, 0))
                if kind == "delete" and live:
                    present_all_along.discard(live.pop(at))
                elif kind == "insert":
                    live.insert(at, next(fresh_ids))
        requests += 1
        counts.append(len(live))
        return _server(live, page_size)(page)

    tracker = PageTracker("SoftwareLicence", page_size, reread_budget=1000)
    got = _drive(tracker, fetch)
    report = tracker.report()
    assert len(got) == len(set(got))
    kinds = {kind for gap in gaps for kind, _ in gap}
    if kinds != {"delete", "insert"}:
        assert present_all_along <= set(got)
    if len(set(counts)) > 1:
        assert report.changed
    assert report.requests == requests
    if "delete" not in kinds:
        assert report.rereads == 0  # only a drop in the total costs extra requests


def test_rereads_are_bounded() -> None:
    """Halo deleting a record before every page costs at most the budget in extra pages."""
    live = list(range(1, 201))
    asked: list[int] = []

    def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
        asked.append(page)
        live.pop(0)
        return _server(live, 10)(page)

    tracker = PageTracker("Client", 10, reread_budget=3)
    got = _drive(tracker, fetch)
    report = tracker.report()
    assert report.rereads == 3
    assert report.changed
    # A deletion before page 2 re-reads page 1; one during that re-read, page 2 as well.
    assert asked[:6] == [1, 2, 1, 2, 1, 3]
    assert len(asked) == report.requests == len(set(asked)) + 3
    assert len(got) == len(set(got))


def test_a_short_page_marks_the_list_truncated_and_reading_goes_on() -> None:
    tracker = PageTracker("Client", 100)
    assert len(tracker.add(_rows(0, 100), 250)) == 100
    assert tracker.next_page == 2
    assert len(tracker.add(_rows(100, 40), 250)) == 40
    assert tracker.next_page == 3
    tracker.add(_rows(200, 50), 250)
    assert tracker.next_page is None
    report = tracker.report()
    assert report.truncated
    assert not report.settled


def test_an_empty_page_before_the_total_ends_the_read_as_truncated() -> None:
    tracker = PageTracker("Item", 100)
    tracker.add(_rows(0, 100), 300)
    assert tracker.add([], 300) == []
    assert tracker.next_page is None
    assert tracker.report().truncated


def test_a_moved_total_is_reported_not_raised() -> None:
    tracker = PageTracker("Item", 100)
    tracker.add(_rows(0, 100), 300)
    tracker.add(_rows(100, 100), 301)
    tracker.add(_rows(200, 100), 301)
    assert tracker.next_page == 4
    tracker.add(_rows(300, 1), 301)
    report = tracker.report()
    assert (report.first_count, report.last_count, report.changed) == (300, 301, True)
    assert tracker.next_page is None


def test_tracker_detects_paging_that_does_not_advance() -> None:
    # A repeated page is only suspect: the page before it, read again, repeats it too.
    for total in (None, 500):
        tracker = PageTracker("Client", 50)
        tracker.add(_rows(0, 50), total)
        assert tracker.add(_rows(0, 50), total) == []
        assert tracker.next_page == 1
        with pytest.raises(PagingInconsistentError, match="repeats page 1") as raised:
            tracker.add(_rows(0, 50), total)
        assert "not advancing" in str(raised.value)


def test_a_page_repeated_by_a_list_that_moved_a_page_on_is_read_on() -> None:
    """Records added before a page and as many deleted after it: the next page repeats it,
    total unchanged; the page before, read again, holds other records, so reading goes on."""
    tracker = PageTracker("Client", 2)
    assert _ids(tracker.add(_rows(1, 2), 6)) == [1, 2]
    assert _ids(tracker.add(_rows(3, 2), 6)) == [3, 4]
    # 101 and 102 added at the front, 5 and 6 deleted: page 3 now holds 3 and 4 again.
    assert tracker.add(_rows(3, 2), 6) == []
    assert tracker.next_page == 2
    assert _ids(tracker.add([{"id": 1}, {"id": 2}], 6)) == []
    assert tracker.next_page == 4
    assert tracker.add([], 6) == []
    assert tracker.next_page is None
    report = tracker.report()
    assert report.changed
    assert (report.requests, report.rereads) == (5, 1)


def _ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [row["id"] for row in rows]


def test_tracker_adapts_to_an_instance_page_cap() -> None:
    tracker = PageTracker("Client", 100)
    assert len(tracker.add(_rows(0, 50), 120)) == 50
    assert tracker.next_page == 2
    tracker.add(_rows(50, 50), 120)
    tracker.add(_rows(100, 20), 120)
    assert tracker.next_page is None
    assert tracker.report().settled
