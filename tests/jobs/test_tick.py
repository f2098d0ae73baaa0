"""The tick on a frozen/advanced clock: due runs enqueued once, catch-up once, reaping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from halosync.domain.schedule import Schedule
from halosync.jobs import open_job_queue
from halosync.jobs.queue import HueyJobQueue
from halosync.jobs.service import request_sync, set_schedule
from halosync.jobs.tick import Ticker, schedule_key
from halosync.store.base import utcnow
from halosync.store.models import LogEntry, SyncRun, SyncSchedule, Workspace
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import add_log_entry
from tests.sync.world import World, make_world

CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.set(created_at=CREATED, setup_finished_at=CREATED)
    return w


@pytest.fixture
def queue(world: World) -> Iterator[HueyJobQueue]:
    q = open_job_queue(world.settings)
    yield q
    q.close()


def _runs(world: World) -> list[SyncRun]:
    with world.database.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def _finish_all(world: World) -> None:
    with world.database.session() as session:
        for run in session.scalars(select(SyncRun).where(SyncRun.status == "queued")):
            run.status, run.finished_at = "succeeded", utcnow()


def test_default_schedules_fire_at_their_slots_once(world: World, queue: HueyJobQueue) -> None:
    ticker = Ticker(world.database, world.settings, queue)
    assert ticker.tick(CREATED + timedelta(minutes=5)).enqueued == []
    # 18:00 usage push: due from 18:00, enqueued by the first tick that sees it.
    assert ticker.tick(datetime(2026, 1, 5, 17, 59, tzinfo=UTC)).enqueued == []
    first = ticker.tick(datetime(2026, 1, 5, 18, 0, 30, tzinfo=UTC))
    assert len(first.enqueued) == 1
    # A second tick (this process or another worker) sees the slot taken.
    again = Ticker(world.database, world.settings, queue).tick(
        datetime(2026, 1, 5, 18, 1, tzinfo=UTC)
    )
    assert again.enqueued == []
    runs = _runs(world)
    assert [(r.kind, r.trigger, r.status) for r in runs] == [("usage", "schedule", "queued")]
    assert runs[0].schedule_key == schedule_key(
        world.workspace_id, "usage", datetime(2026, 1, 5, 18, 0, tzinfo=UTC)
    )
    assert queue.pending() == 1
    _finish_all(world)
    # Next morning the customers pull.
    morning = ticker.tick(datetime(2026, 1, 6, 8, 0, tzinfo=UTC))
    assert [r.kind for r in _runs(world)] == ["usage", "customers"]
    assert len(morning.enqueued) == 1


def test_a_missed_tick_catches_up_once(world: World, queue: HueyJobQueue) -> None:
    ticker = Ticker(world.database, world.settings, queue)
    # Down for ten days: one pull and one push, not ten of each.
    report = ticker.tick(datetime(2026, 1, 15, 20, 0, tzinfo=UTC))
    assert len(report.busy) == 1  # the second kind waits for the first to finish
    assert len(report.enqueued) == 1
    _finish_all(world)
    report = ticker.tick(datetime(2026, 1, 15, 20, 1, tzinfo=UTC))
    assert len(report.enqueued) == 1
    _finish_all(world)
    assert ticker.tick(datetime(2026, 1, 15, 20, 2, tzinfo=UTC)).enqueued == []
    keys = sorted(r.schedule_key or "" for r in _runs(world))
    assert keys == [
        schedule_key(world.workspace_id, "customers", datetime(2026, 1, 15, 8, 0, tzinfo=UTC)),
        schedule_key(world.workspace_id, "usage", datetime(2026, 1, 15, 18, 0, tzinfo=UTC)),
    ]


def test_saved_schedules_drive_the_tick_and_past_slots_never_fire(
    world: World, queue: HueyJobQueue
) -> None:
    saved_at = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    with world.database.session() as session:
        set_schedule(
            session, world.workspace_id, "usage", Schedule.monthly("last", 9), now=saved_at
        )
        set_schedule(
            session, world.workspace_id, "customers", Schedule.daily(8), enabled=False, now=saved_at
        )
    ticker = Ticker(world.database, world.settings, queue)
    # The January slot (31st 09:00) was before the schedule was saved.
    assert ticker.tick(saved_at + timedelta(hours=1)).enqueued == []
    assert ticker.tick(datetime(2026, 2, 28, 8, 59, tzinfo=UTC)).enqueued == []
    assert len(ticker.tick(datetime(2026, 2, 28, 9, 0, tzinfo=UTC)).enqueued) == 1
    assert [r.kind for r in _runs(world)] == ["usage"]


def test_workspaces_without_a_connection_are_not_scheduled(
    world: World, queue: HueyJobQueue
) -> None:
    with world.database.session() as session:
        WorkspaceRepository(session).create("unconnected")
    report = Ticker(world.database, world.settings, queue).tick(
        datetime(2026, 1, 5, 18, 5, tzinfo=UTC)
    )
    assert len(report.enqueued) == 1
    assert {r.workspace_id for r in _runs(world)} == {world.workspace_id}


def test_schedules_start_at_finish_not_before(world: World, queue: HueyJobQueue) -> None:
    world.set(setup_finished_at=None)  # mid-setup: connected, not finished
    ticker = Ticker(world.database, world.settings, queue)
    assert ticker.tick(datetime(2026, 1, 5, 18, 5, tzinfo=UTC)).enqueued == []
    assert ticker.tick(datetime(2026, 1, 6, 8, 5, tzinfo=UTC)).enqueued == []
    # Finish at 09:00 on the 6th: the slots missed before it never fire; the next does.
    with world.database.session() as session:
        session.execute(
            update(Workspace).values(setup_finished_at=datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
        )
    assert ticker.tick(datetime(2026, 1, 6, 9, 1, tzinfo=UTC)).enqueued == []
    assert len(ticker.tick(datetime(2026, 1, 6, 18, 0, 30, tzinfo=UTC)).enqueued) == 1
    assert [r.kind for r in _runs(world)] == ["usage"]


def test_dead_runs_are_reaped_and_queued_runs_kept_alive(world: World, queue: HueyJobQueue) -> None:
    run_id = request_sync(world.database, world.settings, queue, world.workspace_id, kind="usage")
    long_ago = utcnow() - timedelta(hours=1)
    with world.database.session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.created_at, run.heartbeat_at, run.enqueued_at = long_ago, long_ago, long_ago
    ticker = Ticker(world.database, world.settings, queue)
    # Queued, not yet taken: the live tick vouches for it (and resends it after a while).
    report = ticker.tick()
    assert report.reaped == []
    assert report.requeued == [run_id]
    assert queue.pending() == 2
    with world.database.session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        # A worker took it and died: pid gone, heartbeat stale.
        run.status, run.started_at, run.heartbeat_at = "running", long_ago, long_ago
        run.owner_host, run.owner_pid = os.uname().nodename, 2**22 + 17
    report = ticker.tick()
    assert report.reaped == [run_id]
    assert _runs(world)[0].status == "failed"


def test_log_entries_past_retention_are_pruned(world: World, queue: HueyJobQueue) -> None:
    world.set(log_retention_days=7)
    with world.database.session() as session:
        add_log_entry(session, world.workspace_id, "INFO", "old", at=utcnow() - timedelta(days=8))
        add_log_entry(session, world.workspace_id, "INFO", "new", at=utcnow() - timedelta(days=6))
    ticker = Ticker(world.database, world.settings, queue)
    assert ticker.tick(CREATED).pruned == 1
    with world.database.session() as session:
        assert [e.title for e in session.scalars(select(LogEntry))] == ["new"]


def test_an_unreadable_schedule_row_skips_only_itself(world: World, queue: HueyJobQueue) -> None:
    with world.database.session() as session:
        WorkspaceRepository(session).create("other")
        set_schedule(session, world.workspace_id, "customers", Schedule.daily(8), now=CREATED)
        session.execute(update(SyncSchedule).values(spec="every full moon"))
    report = Ticker(world.database, world.settings, queue).tick(
        datetime(2026, 1, 5, 18, 5, tzinfo=UTC)
    )
    # The hand-edited customers row is skipped; the usage default still fires.
    assert [r.kind for r in _runs(world)] == ["usage"]
    assert len(report.enqueued) == 1
