"""Retry-After on a 429: honoured up to one window, a wait past the budget halts, no poison."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from halosync.halopsa.errors import HaloConfigurationError, RetryAfterTooLongError
from halosync.halopsa.pacing import SharedSlidingLogPacer, SlidingWindowPacer
from halosync.halopsa.retry import MIN_RATE_LIMIT_WAIT_SECONDS, rate_limit_wait
from halosync.store.database import Database
from halosync.store.models import HaloRateSlot
from halosync.store.rate_slots import SqlRateSlotLog
from tests.halopsa.conftest import BASE_URL, Halo
from tests.halopsa.manual_clock import ManualClock
from tests.schema_template import migrated

pytestmark = pytest.mark.anyio

WINDOW = 300.0


@contextmanager
def pacer_database(path: Path) -> Iterator[Database]:
    """A halosync database (SQLite) holding the shared pacer's slots."""
    db = migrated(Database(f"sqlite:///{path}"))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with pacer_database(tmp_path / "pace.db") as db:
        yield db


def shared_pacer(database: Database, halo: Halo) -> SharedSlidingLogPacer:
    return SharedSlidingLogPacer(SqlRateSlotLog(database), BASE_URL, 270, WINDOW, clock=halo.clock)


def latest_slot(database: Database) -> float:
    """The latest slot any process booked in the shared pacer (epoch seconds)."""
    with database.session() as session:
        latest = session.scalar(select(func.max(HaloRateSlot.slot_at)))
    assert isinstance(latest, datetime)
    return latest.timestamp()


async def test_retry_after_is_honoured_but_never_beyond_one_window(
    make_halo: Callable[..., Halo], database: Database
) -> None:
    halo = make_halo(retry_after="30")
    async with halo.client(pacer=shared_pacer(database, halo)) as client:
        await client.get_token()
        halo.app.state.faults.inject("rate_limit", path="/api/item")
        assert await client.items() == []
        assert halo.clock.slept == pytest.approx(30)
        # Halo's window is 300 s: a longer Retry-After (within the budget) is waited one
        # window at a time, and no slot is booked past the window.
        halo.app.state.configure({"retry_after": 600})
        halo.app.state.faults.inject("rate_limit", path="/api/item")
        assert await client.items() == []
        assert halo.clock.slept == pytest.approx(30 + WINDOW)
    assert latest_slot(database) <= halo.clock.now()
    assert [e.status for e in halo.requests("/api/Item")] == [429, 200, 429, 200]


async def test_a_wait_past_the_budget_halts_at_once_and_books_nothing(
    make_halo: Callable[..., Halo], database: Database
) -> None:
    halo = make_halo(retry_after="86400")
    async with halo.client(pacer=shared_pacer(database, halo)) as client:
        await client.get_token()
        halo.app.state.faults.inject("rate_limit", path="/api/item", times=None)
        started = halo.clock.now()
        with pytest.raises(RetryAfterTooLongError) as caught:
            await client.items()
    error = caught.value
    assert isinstance(error, HaloConfigurationError)  # a run halts on it
    assert "429" in error.message
    assert "86400" in error.message
    assert "GET /api/Item" in error.message
    assert error.fix is not None
    assert error.retry_after_seconds == 86400
    assert halo.clock.now() == started
    assert halo.clock.slept == 0
    assert len(halo.requests("/api/Item")) == 1
    assert latest_slot(database) <= started


POISON = [
    # (Retry-After as Halo sends it, whether the request then halts)
    ("Fri, 01 Jan 2100 00:00:00 GMT", True),
    ("99999999999999999999999999999", True),
    ("1e9", False),  # not delta-seconds: ignored, one window
    ("inf", False),
    ("nan", False),
    ("-5", False),
    ("0x10", False),
    ("soon", False),
    ("Wed, 21 Oct 2015 07:28:00 GMT", False),  # in the past: at once (after a second)
    ("Wed, 21 Oct 2015 07:28:00 -0000", False),
    ("0", False),
    ("12.5", False),
]


async def test_nothing_halo_sends_poisons_the_shared_pacer(
    make_halo: Callable[..., Halo], tmp_path: Path
) -> None:
    for index, (value, halts) in enumerate(POISON):
        with pacer_database(tmp_path / f"pace-{index}.db") as database:
            halo = make_halo(retry_after=value)
            async with halo.client(pacer=shared_pacer(database, halo)) as client:
                await client.get_token()
                halo.app.state.faults.inject("rate_limit", path="/api/item")
                if halts:
                    with pytest.raises(RetryAfterTooLongError):
                        await client.items()
                else:
                    assert await client.items() == [], value
            # At most one window waited, no slot booked past "now", and another process
            # sharing the instance gets a slot without waiting a window.
            assert 0 <= halo.clock.slept <= WINDOW, value
            assert latest_slot(database) <= halo.clock.now(), value
            other = shared_pacer(database, halo)
            before = halo.clock.now()
            await other.acquire()
            assert halo.clock.now() - before <= WINDOW, value


async def test_a_poisoned_shared_pacer_heals(
    make_halo: Callable[..., Halo], database: Database
) -> None:
    # Slots a day ahead, as an earlier halosync stored them after "Retry-After: 86400".
    halo = make_halo()
    pacer = shared_pacer(database, halo)
    ahead = datetime.fromtimestamp(halo.clock.now() + 86400 - WINDOW, UTC)
    with database.session() as session:
        session.add_all(HaloRateSlot(instance_key=BASE_URL, slot_at=ahead) for _ in range(270))
    async with halo.client(pacer=pacer) as client:
        assert await client.items() == []
    assert halo.clock.slept == 0


async def test_in_process_pacer_never_blocks_past_its_window() -> None:
    halo_clock = ManualClock()
    pacer = SlidingWindowPacer(10, WINDOW, clock=halo_clock)
    start = halo_clock.now()
    await pacer.block_until(start + 86400)
    await pacer.block_until(math.inf)
    await pacer.block_until(math.nan)
    await pacer.acquire()
    assert halo_clock.now() - start == pytest.approx(WINDOW)


@given(
    st.one_of(
        st.none(),
        st.text(max_size=40),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9000, 1, 1)).map(
            lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")
        ),
    ),
    st.floats(min_value=1.0, max_value=3600.0),
)
def test_rate_limit_wait_is_always_a_bounded_finite_wait(header: str | None, window: float) -> None:
    now = 1_750_000_000.0
    wait = rate_limit_wait(header, now, window=window)
    assert math.isfinite(wait.seconds)
    assert min(MIN_RATE_LIMIT_WAIT_SECONDS, window) <= wait.seconds <= window
    if wait.asked is None:
        assert wait.seconds == window  # Halo said nothing usable: a whole window
    else:
        assert math.isfinite(wait.asked)
        assert wait.asked >= 0
        assert wait.seconds == max(
            min(wait.asked, window), min(MIN_RATE_LIMIT_WAIT_SECONDS, window)
        )
