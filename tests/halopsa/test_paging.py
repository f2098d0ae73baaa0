"""List and write response shapes, and the paging bookkeeping that never truncates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
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


@given(total=st.integers(0, 450), page_size=st.integers(1, 100), wrapped=st.booleans())
@settings(max_examples=60)
def test_tracker_reads_exactly_all_pages(total: int, page_size: int, wrapped: bool) -> None:
    tracker = PageTracker("Client", page_size)
    got = 0
    start = 0
    while True:
        page = _rows(start, min(page_size, total - start))
        start += len(page)
        got += len(page)
        if tracker.add(page, total if wrapped else None):
            break
    assert got == total


def test_tracker_raises_on_short_page() -> None:
    tracker = PageTracker("Client", 100)
    assert not tracker.add(_rows(0, 100), 250)
    with pytest.raises(PagingInconsistentError, match="came back short"):
        tracker.add(_rows(100, 40), 250)


def test_tracker_raises_on_empty_page_and_on_changed_count() -> None:
    tracker = PageTracker("Item", 100)
    tracker.add(_rows(0, 100), 300)
    with pytest.raises(PagingInconsistentError, match="short"):
        tracker.add([], 300)
    tracker = PageTracker("Item", 100)
    tracker.add(_rows(0, 100), 300)
    with pytest.raises(PagingInconsistentError, match="changed while"):
        tracker.add(_rows(100, 100), 301)


def test_tracker_detects_paging_that_does_not_advance() -> None:
    tracker = PageTracker("Client", 50)
    tracker.add(_rows(0, 50), None)
    with pytest.raises(PagingInconsistentError, match="repeats record 0"):
        tracker.add(_rows(0, 50), None)


def test_tracker_adapts_to_an_instance_page_cap() -> None:
    tracker = PageTracker("Client", 100)
    assert not tracker.add(_rows(0, 50), 120)
    assert not tracker.add(_rows(50, 50), 120)
    assert tracker.add(_rows(100, 20), 120)
