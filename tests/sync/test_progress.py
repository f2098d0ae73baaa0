"""A running sync's progress: counted, told to observers, recorded with the heartbeat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.jobs.service import sync_overview
from halosync.sync import runs as sync_runs
from halosync.sync.customers import run_customers_sync
from halosync.sync.progress import ProgressTracker, SyncProgress
from halosync.sync.results import UsageReport
from halosync.sync.runs import ProgressRecorder, find_run, heartbeat, start_run
from tests.halopsa.manual_clock import ManualClock
from tests.sync.test_halo_waits import START, HeldClock, paced, set_up, usage
from tests.sync.world import make_world, seed


class Collector:
    """An observer that keeps every progress it was told."""

    def __init__(self) -> None:
        self.seen: list[SyncProgress] = []

    def progress(self, progress: SyncProgress) -> None:
        self.seen.append(progress)


class Broken:
    def progress(self, progress: SyncProgress) -> None:
        raise RuntimeError("the terminal went away")


def test_the_tracker_counts_and_tells_every_observer_of_each_change() -> None:
    first, second = Collector(), Collector()
    tracker = ProgressTracker([Broken(), first, second])
    tracker.page_read("Client", 100)
    tracker.page_read("Client", 20)
    until = START.timestamp() + 30
    tracker.waiting(until)
    tracker.waiting(until)  # the same wait again is no change
    tracker.waiting(None)
    tracker.planned(120)
    tracker.wrote(50)
    tracker.wrote(50)
    assert first.seen == second.seen
    assert len(first.seen) == 7
    assert first.seen[2].waiting_until == START + timedelta(seconds=30)
    assert first.seen[3].waiting_until is None
    assert tracker.current == SyncProgress(
        phase="writing", pages_read=2, records_read=120, writes_done=100, writes_planned=120
    )


progresses = st.builds(
    SyncProgress,
    phase=st.sampled_from(["reading", "writing"]),
    pages_read=st.integers(0, 10**9),
    records_read=st.integers(0, 10**9),
    writes_done=st.integers(0, 10**9),
    writes_planned=st.none() | st.integers(0, 10**9),
    waiting_until=st.none()
    | st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)


@given(progresses)
def test_the_stored_form_reads_back_as_it_was(progress: SyncProgress) -> None:
    assert SyncProgress.from_json(progress.to_json()) == progress


@given(st.none() | st.integers() | st.text() | st.dictionaries(st.text(), st.text()))
def test_anything_else_stored_reads_as_no_or_empty_progress(value: Any) -> None:
    read = SyncProgress.from_json(value)
    assert read is None or read.pages_read == 0


def test_the_recorder_hands_each_change_to_one_beat() -> None:
    recorder = ProgressRecorder()
    assert recorder.take() is None
    recorder.progress(SyncProgress(pages_read=1))
    recorder.progress(SyncProgress(pages_read=2))
    assert recorder.take() == SyncProgress(pages_read=2)
    assert recorder.take() is None
    recorder.not_recorded()
    assert recorder.take() == SyncProgress(pages_read=2)


def test_the_heartbeat_records_progress_soon_after_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_runs, "PROGRESS_RECORD_SECONDS", 0.02)
    world = make_world(tmp_path, document=seed(1))
    run_id = start_run(world.database, world.workspace_id, kind="usage", trigger="manual")
    recorder = ProgressRecorder()

    async def beating() -> SyncProgress | None:
        # The beat interval is long: only a change of progress makes the loop write.
        async with heartbeat(world.database, run_id, 60.0, recorder):
            recorder.progress(SyncProgress(pages_read=3, records_read=250))
            for _ in range(200):
                await asyncio.sleep(0.02)
                with world.database.session() as session:
                    view = find_run(session, run_id)
                if view is not None and view.progress is not None:
                    return view.progress
        return None

    assert asyncio.run(beating()) == SyncProgress(pages_read=3, records_read=250)
    world.database.dispose()


def test_a_usage_sync_reports_pages_and_writes_and_keeps_its_last_progress(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    seen = Collector()
    report: UsageReport = asyncio.run(
        usage(world, world.workspace_id, world.factory, observers=[seen])
    )
    assert report.status == "succeeded", report.error
    last = seen.seen[-1]
    assert last.phase == "writing"
    assert last.pages_read >= 1
    assert last.writes_planned == 2
    assert last.writes_done == 2
    assert [p.writes_done for p in seen.seen if p.phase == "writing"] == [0, 2]
    with world.database.session() as session:
        view = find_run(session, report.run_id)
    assert view is not None
    assert view.progress == last
    world.database.dispose()


def test_a_customers_pull_reports_the_pages_it_read(tmp_path: Path) -> None:
    world = make_world(tmp_path, document=seed(3))
    seen = Collector()
    pulled = asyncio.run(
        run_customers_sync(
            world.database,
            world.box,
            world.settings,
            world.workspace_id,
            halo_factory=world.factory,
            observers=[seen],
        )
    )
    assert pulled.status == "succeeded", pulled.error
    assert seen.seen[-1].pages_read >= 2  # clients and items
    assert seen.seen[-1].records_read == 3 + 3
    assert seen.seen[-1].writes_planned is None
    world.database.dispose()


def test_a_sync_waiting_for_halos_rate_limit_records_until_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_runs, "PROGRESS_RECORD_SECONDS", 0.02)
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    world.sim.state.configure({"retry_after": 120})
    world.sim.state.faults.inject("rate_limit", method="GET", path="/api/softwarelicence")
    seen = Collector()

    async def scenario() -> SyncProgress | None:
        held = HeldClock(world.sim.state.clock)
        limited_at = held.now()
        task = asyncio.create_task(
            usage(world, world.workspace_id, paced(world, held), observers=[seen])
        )
        try:
            for _ in range(500):
                await asyncio.sleep(0.02)
                with world.database.session() as session:
                    overview = sync_overview(session, world.workspace_id, START)
                progress = overview.progress
                if progress is not None and progress.waiting_until is not None:
                    assert progress.waiting_until >= datetime.fromtimestamp(limited_at + 119, UTC)
                    return progress
            return None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    recorded = asyncio.run(scenario())
    assert recorded is not None, seen.seen
    assert recorded.waiting_until is not None
    assert recorded.waiting_until <= datetime.fromtimestamp(world.sim.state.clock.now() + 121, UTC)
    assert any(p.waiting_until is not None for p in seen.seen)
    world.database.dispose()


def test_a_wait_for_the_rate_limit_ends_and_the_sync_goes_on(tmp_path: Path) -> None:
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    world.sim.state.configure({"retry_after": 30})
    world.sim.state.faults.inject("rate_limit", method="GET", path="/api/softwarelicence")
    seen = Collector()
    clock = ManualClock(world.sim.state.clock)
    report: UsageReport = asyncio.run(
        usage(world, world.workspace_id, paced(world, clock), observers=[seen])
    )
    assert report.status == "succeeded", report.error
    waits = [p.waiting_until for p in seen.seen]
    started = next(i for i, until in enumerate(waits) if until is not None)
    assert waits[started + 1] is None
    assert seen.seen[-1].waiting_until is None
    world.database.dispose()
