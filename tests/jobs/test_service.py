"""The jobs facade on a real SQLite store and a real (file) huey queue, clock frozen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from halosync.domain.schedule import Schedule
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.jobs import JobQueue, open_job_queue
from halosync.jobs.service import (
    CooldownError,
    get_schedules,
    request_sync,
    set_schedule,
    sync_overview,
)
from halosync.store.models import SyncRun
from halosync.sync.errors import SyncInProgressError
from tests.sync.world import World, make_world, usage_document

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.set(setup_finished_at=datetime(2000, 1, 1, tzinfo=UTC))
    w.import_usage(
        usage_document(
            [{"ref": "A1", "name": "Alpha", "status": "active", "billed": True}],
            [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 3}],
        )
    )
    return w


@pytest.fixture
def queue(world: World) -> Iterator[JobQueue]:
    q = open_job_queue(world.settings)
    yield q
    q.close()


def _finish(world: World, run_id: int, at: datetime, status: str = "succeeded") -> None:
    with world.database.session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.status, run.started_at, run.finished_at = status, at - timedelta(minutes=1), at


def test_request_creates_a_queued_run_and_enqueues_it(world: World, queue: JobQueue) -> None:
    run_id = request_sync(world.database, world.settings, queue, world.workspace_id, kind="usage")
    with world.database.session() as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        assert (run.status, run.kind, run.trigger, run.account_id) == (
            "queued",
            "usage",
            "manual",
            None,
        )
    assert queue.pending() == 1


def test_second_request_is_refused_while_one_is_queued(world: World, queue: JobQueue) -> None:
    request_sync(world.database, world.settings, queue, world.workspace_id, kind="customers")
    with pytest.raises(SyncInProgressError, match="Sync in progress"):
        request_sync(world.database, world.settings, queue, world.workspace_id, kind="customers")
    # A per-account sync is refused while the workspace sync runs.
    with pytest.raises(SyncInProgressError, match="Sync in progress"):
        request_sync(
            world.database,
            world.settings,
            queue,
            world.workspace_id,
            kind="usage",
            account_ref="A1",
        )
    assert queue.pending() == 1


@pytest.mark.parametrize(
    ("finished_ago", "message"),
    [
        (timedelta(minutes=1), "You can trigger the next sync in 59 minutes"),
        (timedelta(minutes=59, seconds=30), "You can trigger the next sync in 1 minute"),
        (timedelta(minutes=30, seconds=1), "You can trigger the next sync in 30 minutes"),
    ],
)
def test_manual_full_usage_sync_has_a_cooldown(
    world: World, queue: JobQueue, finished_ago: timedelta, message: str
) -> None:
    first = request_sync(
        world.database, world.settings, queue, world.workspace_id, kind="usage", now=NOON
    )
    _finish(world, first, NOON)
    later = NOON + finished_ago
    with pytest.raises(CooldownError) as refused:
        request_sync(
            world.database, world.settings, queue, world.workspace_id, kind="usage", now=later
        )
    assert str(refused.value) == message
    assert refused.value.minutes == int(message.split()[-2])
    with world.database.session() as session:
        assert sync_overview(session, world.workspace_id, later).cooldown_message == message
    # Scheduled runs, per-account syncs and the customers pull are not held back.
    per_account = request_sync(
        world.database,
        world.settings,
        queue,
        world.workspace_id,
        kind="usage",
        account_ref="A1",
        now=later,
    )
    _finish(world, per_account, later)
    pull = request_sync(
        world.database, world.settings, queue, world.workspace_id, kind="customers", now=later
    )
    _finish(world, pull, later)


def test_cooldown_ends_and_is_configurable(world: World, queue: JobQueue) -> None:
    first = request_sync(
        world.database, world.settings, queue, world.workspace_id, kind="usage", now=NOON
    )
    _finish(world, first, NOON)
    request_sync(
        world.database,
        world.settings,
        queue,
        world.workspace_id,
        kind="usage",
        now=NOON + timedelta(minutes=60),
    )
    world.set(sync_cooldown_minutes=5)
    with world.database.session() as session:
        second = session.scalars(select(SyncRun.id).order_by(SyncRun.id.desc())).first()
    assert second is not None
    _finish(world, second, NOON + timedelta(hours=2))
    with pytest.raises(CooldownError, match="in 5 minutes"):
        request_sync(
            world.database,
            world.settings,
            queue,
            world.workspace_id,
            kind="usage",
            trigger="api",
            now=NOON + timedelta(hours=2),
        )


def test_failed_manual_sync_does_not_start_a_cooldown(world: World, queue: JobQueue) -> None:
    first = request_sync(
        world.database, world.settings, queue, world.workspace_id, kind="usage", now=NOON
    )
    _finish(world, first, NOON, status="failed")
    request_sync(world.database, world.settings, queue, world.workspace_id, kind="usage", now=NOON)


def test_bad_requests_are_refused_before_anything_is_written(world: World, queue: JobQueue) -> None:
    with pytest.raises(NotFoundError, match="'NOPE'"):
        request_sync(
            world.database,
            world.settings,
            queue,
            world.workspace_id,
            kind="usage",
            account_ref="NOPE",
        )
    with pytest.raises(ValidationFailedError, match="Only a usage sync"):
        request_sync(
            world.database,
            world.settings,
            queue,
            world.workspace_id,
            kind="customers",
            account_ref="A1",
        )
    with pytest.raises(ValidationFailedError, match="'orders'"):
        request_sync(
            world.database,
            world.settings,
            queue,
            world.workspace_id,
            kind="orders",  # type: ignore[arg-type]
        )
    with world.database.session() as session:
        assert session.scalars(select(SyncRun)).all() == []
    assert queue.pending() == 0


def test_overview_shows_tiles_progress_and_next_runs(world: World, queue: JobQueue) -> None:
    world.set(setup_finished_at=None)
    with world.database.session() as session:
        unfinished = sync_overview(session, world.workspace_id, NOON)
    # Mid-setup: no automatic run until Finish, and the overview says so.
    assert (unfinished.setup_finished, unfinished.next_auto_sync_at) == (False, None)
    assert unfinished.to_dict()["setup_finished"] is False
    # GET /schedules and `schedule show` say the same as the overview (one rule).
    with world.database.session() as session:
        schedules = get_schedules(session, world.workspace_id)
    assert [s.to_dict(NOON)["next_run_at"] for s in schedules.values()] == [None, None]
    world.set(setup_finished_at=NOON - timedelta(days=1))
    with world.database.session() as session:
        idle = sync_overview(session, world.workspace_id, NOON)
    assert idle.setup_finished
    assert not idle.in_progress
    assert idle.last_usage_age is None
    assert idle.next_customers_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    assert idle.next_usage_at == datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    assert idle.next_auto_sync_at == idle.next_usage_at
    run_id = request_sync(world.database, world.settings, queue, world.workspace_id, kind="usage")
    world.set(
        last_customers_sync_at=NOON - timedelta(hours=9),
        last_usage_sync_at=NOON - timedelta(days=3, hours=1),
    )
    with world.database.session() as session:
        busy = sync_overview(session, world.workspace_id, NOON)
    assert (busy.in_progress, busy.running_kind, busy.running_run_id) == (True, "usage", run_id)
    assert (busy.last_customers_age, busy.last_usage_age) == ("9h ago", "3 days ago")
    assert busy.to_dict()["next_usage_at"] == "2026-03-10T18:00:00+00:00"


def test_schedules_default_and_can_be_changed(world: World) -> None:
    with world.database.session() as session:
        schedules = get_schedules(session, world.workspace_id)
    assert str(schedules["customers"].schedule) == "daily 08:00"
    assert str(schedules["usage"].schedule) == "daily 18:00"
    assert schedules["usage"].is_default
    with world.database.session() as session:
        saved = set_schedule(
            session, world.workspace_id, "usage", Schedule.monthly("last", 23, 30), now=NOON
        )
    assert saved.next_run(NOON) == datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    with world.database.session() as session:
        schedules = get_schedules(session, world.workspace_id)
        overview = sync_overview(session, world.workspace_id, datetime(2028, 2, 1, tzinfo=UTC))
    assert str(schedules["usage"].schedule) == "monthly last 23:30"
    assert not schedules["usage"].is_default
    assert overview.next_usage_at == datetime(2028, 2, 29, 23, 30, tzinfo=UTC)
    with world.database.session() as session:
        set_schedule(
            session, world.workspace_id, "usage", Schedule.daily(6), enabled=False, now=NOON
        )
        assert sync_overview(session, world.workspace_id, NOON).next_usage_at is None
