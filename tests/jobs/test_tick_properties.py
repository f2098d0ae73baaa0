"""Property: however ticks are spaced, each due slot is enqueued once, and only due slots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from halosync.domain.schedule import Schedule, latest_slot_at_or_before
from halosync.jobs import open_job_queue
from halosync.jobs.queue import HueyJobQueue
from halosync.jobs.service import set_schedule
from halosync.jobs.tick import Ticker
from halosync.store.models import SyncRun, SyncSchedule
from tests.sync.world import World, make_world

SAVED = datetime(2027, 12, 30, 12, 0, tzinfo=UTC)

schedules = st.one_of(
    st.builds(Schedule.daily, st.integers(0, 23), st.integers(0, 59)),
    st.builds(
        Schedule.monthly,
        st.one_of(st.integers(1, 28), st.just("last")),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)
# Gaps between ticks: a minute, hours, or days and weeks of downtime (across Feb 2028).
gaps = st.lists(
    st.sampled_from([1, 7, 60, 600, 1440, 4 * 1440, 40 * 1440]).map(
        lambda minutes: timedelta(minutes=minutes)
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, HueyJobQueue]]:
    """One store for every example; each example clears the runs and schedules it uses."""
    world = make_world(tmp_path_factory.mktemp("tick-properties"))
    world.set(setup_finished_at=datetime(2000, 1, 1, tzinfo=UTC))
    queue = open_job_queue(world.settings)
    yield world, queue
    queue.close()
    world.database.dispose()


@settings(max_examples=30, deadline=None)
@given(schedule=schedules, steps=gaps)
def test_ticks_enqueue_each_due_slot_exactly_once(
    store: tuple[World, HueyJobQueue], schedule: Schedule, steps: list[timedelta]
) -> None:
    world, queue = store
    with world.database.session() as session:
        session.execute(delete(SyncRun))
        session.execute(delete(SyncSchedule))
        set_schedule(session, world.workspace_id, "usage", schedule, now=SAVED)
        set_schedule(
            session, world.workspace_id, "customers", Schedule.daily(0), enabled=False, now=SAVED
        )
    ticker = Ticker(world.database, world.settings, queue)
    now = SAVED
    expected: list[datetime] = []
    for step in steps:
        now += step
        ticker.tick(now)
        slot = latest_slot_at_or_before(schedule, now)
        if slot >= SAVED and (not expected or slot > expected[-1]):
            expected.append(slot)
        with world.database.session() as session:
            session.execute(update(SyncRun).values(status="succeeded"))
    with world.database.session() as session:
        keys = session.scalars(select(SyncRun.schedule_key).order_by(SyncRun.id)).all()
    assert keys == [f"{world.workspace_id}:usage:{slot.isoformat()}" for slot in expected]
