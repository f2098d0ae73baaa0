"""A page read from the nearer end of its segment is the page read forwards."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from halosync.store.account_grid import nearer_end


@given(st.data(), st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=60))
def test_the_nearer_end_reads_the_same_rows_with_the_shorter_walk(
    data: st.DataObject, size: int, limit: int
) -> None:
    offset = data.draw(st.integers(min_value=0, max_value=size - 1))
    rows = list(range(size))
    backwards, start, count = nearer_end(size, offset, limit)
    if backwards:
        read = list(reversed(rows))[start : start + count][::-1]
    else:
        read = rows[start : start + count]
    assert read == rows[offset : offset + limit]
    # The walk to the page's first row is the shorter one: never past the middle.
    assert start == min(offset, size - min(offset + limit, size))
