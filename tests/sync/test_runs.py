"""Sync runs, one owner: the in-progress rule, the lifecycle's outcomes, the read model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.halopsa.errors import HaloConfigurationError
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.models import LogEntry, SyncRun
from halosync.sync.errors import SyncInProgressError
from halosync.sync.runs import (
    RunEnd,
    RunLifecycle,
    ScheduleSlotTakenError,
    enqueue_run,
    find_run,
    list_runs,
    run_outcome_of,
    start_run,
)
from tests.sync.world import World, make_world, seed


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A connected workspace on SQLite, and again on the real PostgreSQL."""
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    built = make_world(tmp_path, document=seed(2), database_url=url)
    yield built
    built.database.dispose()


def test_only_the_one_active_run_index_means_sync_in_progress(world: World) -> None:
    first = start_run(world.database, world.workspace_id, kind="usage", trigger="manual")
    with pytest.raises(SyncInProgressError, match="Sync in progress: workspace 'acme'"):
        enqueue_run(world.database, world.workspace_id, kind="customers", trigger="api")
    # Other refusals are what they are, never "Sync in progress".
    with pytest.raises(IntegrityError) as no_workspace:
        start_run(world.database, 9_999, kind="usage", trigger="manual")
    assert not isinstance(no_workspace.value, SyncInProgressError)
    with pytest.raises(IntegrityError):
        enqueue_run(
            world.database,
            world.workspace_id,
            kind="bogus",  # type: ignore[arg-type]
            trigger="schedule",
            schedule_key="bogus",
        )
    with world.database.session() as session:
        session.execute(delete(SyncRun).where(SyncRun.id == first))
    key = f"{world.workspace_id}:usage:2026-01-05T18:00:00+00:00"
    queued = enqueue_run(
        world.database, world.workspace_id, kind="usage", trigger="schedule", schedule_key=key
    )
    with world.database.session() as session:
        session.execute(delete(SyncRun).where(SyncRun.id != queued))
        run = session.get(SyncRun, queued)
        assert run is not None
        run.status = "succeeded"
    with pytest.raises(ScheduleSlotTakenError):
        enqueue_run(
            world.database, world.workspace_id, kind="usage", trigger="schedule", schedule_key=key
        )


@pytest.mark.parametrize(
    ("error", "status", "reason"),
    [
        (None, "succeeded", None),
        (HaloConfigurationError("Bad client secret."), "halted", "Bad client secret."),
        (NotFoundError("No account 'X'."), "halted", "No account 'X'."),
        (ValidationFailedError("Bad target."), "halted", "Bad target."),
        (HalosyncError("Halo answered 500."), "failed", "Halo answered 500."),
        (KeyError("boom"), "failed", "Unexpected error: KeyError: 'boom'"),
    ],
)
def test_the_lifecycle_records_how_a_run_ended(
    tmp_path: Path, error: Exception | None, status: str, reason: str | None
) -> None:
    world = make_world(tmp_path)
    run_id = start_run(world.database, world.workspace_id, kind="usage", trigger="manual")
    seen: list[RunEnd] = []

    def on_finish(session: Session, end: RunEnd) -> None:
        # The same transaction as the run's end: the row is already closed in it.
        closed = session.get(SyncRun, end.run_id)
        assert closed is not None
        assert closed.status == end.status
        seen.append(end)

    async def work() -> RunLifecycle:
        lifecycle = RunLifecycle(
            world.database,
            run_id,
            stale_after_seconds=60,
            counts=lambda: {"created": 2, "failed": 0},
            on_finish=on_finish,
        )
        async with lifecycle:
            if error is not None:
                raise error
        return lifecycle

    end = asyncio.run(work()).end
    assert (end.status, end.error, end.counts) == (status, reason, {"created": 2, "failed": 0})
    assert seen == [end]
    if error is not None:
        assert run_outcome_of(error) == (status, reason)
    with world.database.session() as session:
        view = find_run(session, run_id)
    assert view is not None
    assert (view.status, view.error, view.counts, view.active) == (
        status,
        reason,
        {"created": 2, "failed": 0},
        False,
    )
    world.database.dispose()


def test_a_cancelled_run_is_left_to_the_reaper(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    run_id = start_run(world.database, world.workspace_id, kind="customers", trigger="manual")

    async def work() -> None:
        async with RunLifecycle(world.database, run_id, stale_after_seconds=60, counts=dict):
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(work())
    with world.database.session() as session:
        view = find_run(session, run_id)
    assert view is not None
    assert view.status == "running"
    world.database.dispose()


def test_both_sync_kinds_halt_on_a_connection_the_user_must_fix(world: World) -> None:
    with world.database.session() as session:
        HaloConnectionRepository(session, world.workspace_id, world.box).save(
            ConnectionDetails("http://halo.test", None, None, "wrong-id", "wrong-secret-value")
        )
    pulled = asyncio.run(world.customers())
    pushed = asyncio.run(world.usage())
    assert (pulled.status, pushed.status) == ("halted", "halted")
    with world.database.session() as session:
        statuses = session.scalars(select(SyncRun.status).order_by(SyncRun.id)).all()
        titles = set(session.scalars(select(LogEntry.title)))
    assert statuses == ["halted", "halted"]
    assert {"Customers sync halted", "Subscriptions sync halted"} <= titles


def test_the_read_model_keeps_a_runs_account_and_only_counts(world: World) -> None:
    world.ready_one_account()
    one = asyncio.run(world.usage(account_ref="A1"))
    queued = enqueue_run(world.database, world.workspace_id, kind="usage", trigger="api")
    with world.database.session() as session:
        runs = {run.id: run for run in list_runs(session, world.workspace_id).items}
    assert runs[one.run_id].account_ref == "A1"
    assert runs[one.run_id].counts == one.counts
    assert runs[queued].counts == {}
    assert runs[queued].active
