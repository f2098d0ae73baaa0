"""Pacers keep at most ``limit`` request starts in any window, per process and across them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from halosync.halopsa.pacing import SharedSlidingLogPacer, SlidingWindowPacer
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.rate_slots import SqlRateSlotLog
from tests.halopsa.manual_clock import ManualClock
from tests.schema_template import migrated

pytestmark = pytest.mark.anyio


def _max_in_any_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    best = 0
    left = 0
    for right, start in enumerate(starts):
        while starts[left] <= start - window:
            left += 1
        best = max(best, right - left + 1)
    return best


async def test_in_process_pacer_keeps_the_window() -> None:
    clock = ManualClock()
    pacer = SlidingWindowPacer(10, 60.0, clock=clock)
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            starts.append(await pacer.acquire())

    await asyncio.gather(*(worker() for _ in range(7)))
    assert len(starts) == 35
    assert _max_in_any_window(starts, 60.0) == 10
    assert clock.slept >= 3 * 60.0


async def test_in_process_block_until_holds_everyone() -> None:
    clock = ManualClock()
    pacer = SlidingWindowPacer(100, 300.0, clock=clock)
    start = clock.now()
    await pacer.block_until(start + 300.0)
    await pacer.acquire()
    assert clock.now() >= start + 300.0


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowPacer(0, 10)
    with pytest.raises(ValueError, match="positive"):
        SlidingWindowPacer(1, 0)


async def _two_processes_share(url: str) -> None:
    clock = ManualClock()
    key = f"https://{uuid.uuid4().hex}.halopsa.com"
    first_db, second_db = Database(url), Database(url)
    migrated(first_db)
    second_db.migrate()
    try:
        pacers = [
            SharedSlidingLogPacer(SqlRateSlotLog(db), key, 8, 60.0, clock=clock)
            for db in (first_db, second_db)
        ]
        starts: list[float] = []

        async def worker(pacer: SharedSlidingLogPacer) -> None:
            for _ in range(6):
                starts.append(await pacer.acquire())

        await asyncio.gather(*(worker(pacers[i % 2]) for i in range(4)))
        assert len(starts) == 24
        assert _max_in_any_window(starts, 60.0) <= 8
        assert pacers[0].used() <= 8
        # A 429 seen by one process holds back the other for the whole window.
        now = clock.now()
        await pacers[0].block_until(now + 60.0)
        await pacers[1].acquire()
        assert clock.now() >= now + 60.0
    finally:
        first_db.dispose()
        second_db.dispose()


async def test_sql_pacer_shares_budget_on_sqlite(tmp_path: Path) -> None:
    await _two_processes_share(f"sqlite:///{tmp_path / 'pace.db'}")


@pytest.mark.postgres
async def test_sql_pacer_shares_budget_on_postgres(pg_schema_url: str) -> None:
    await _two_processes_share(pg_schema_url)


def test_from_settings_uses_the_operator_budget(tmp_path: Path) -> None:
    settings = Settings(halo_rate_limit=123, halo_rate_window_seconds=60)
    pacer = SharedSlidingLogPacer.from_settings(
        settings, SqlRateSlotLog(Database(f"sqlite:///{tmp_path / 'x.db'}")), "k"
    )
    assert (pacer.limit, pacer.window_seconds) == (123, 60)


async def test_in_process_pacer_says_until_when_it_holds_a_request() -> None:
    clock = ManualClock()
    pacer = SlidingWindowPacer(2, 60.0, clock=clock)
    told: list[float] = []
    first = await pacer.acquire(told.append)
    await pacer.acquire(told.append)
    assert told == []
    await pacer.acquire(told.append)
    assert told == [first + 60.0]
    await pacer.block_until(clock.now() + 30.0)
    blocked_until = clock.now() + 30.0
    await pacer.acquire(told.append)
    assert told[1] == blocked_until


async def test_sql_pacer_says_until_when_it_holds_a_request(tmp_path: Path) -> None:
    clock = ManualClock()
    database = migrated(Database(f"sqlite:///{tmp_path / 'pace.db'}"))
    try:
        pacer = SharedSlidingLogPacer(
            SqlRateSlotLog(database), "https://acme.halopsa.com", 1, 60.0, clock=clock
        )
        told: list[float] = []
        first = await pacer.acquire(told.append)
        assert told == []
        await pacer.acquire(told.append)
        assert told == [pytest.approx(first + 60.0)]
    finally:
        database.dispose()
