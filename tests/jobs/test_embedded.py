"""Embedded jobs in this process: the huey consumer threads execute queued runs once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from halosync.jobs import open_job_queue
from halosync.jobs.embedded import EmbeddedJobs
from halosync.jobs.service import CooldownError, request_sync
from halosync.store.models import Account, SyncRun
from tests.sync.world import World, make_world, usage_document


def _wait_finished(world: World, run_id: int, timeout: float = 20.0) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with world.database.session() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            if run.status not in ("queued", "running"):
                return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.import_usage(
        usage_document(
            [
                {"ref": "A1", "name": "Alpha", "status": "active", "billed": True},
                {"ref": "A2", "name": "Beta", "status": "active", "billed": True},
            ],
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": 3},
                {"account_ref": "A2", "service_ref": "MAIL", "quantity": 5},
            ],
        )
    )
    asyncio.run(w.customers())
    w.map_account("A1", 1)
    w.map_account("A2", 2)
    w.map_service("MAIL", 1)
    return w


def test_queued_runs_execute_in_process(world: World) -> None:
    with EmbeddedJobs(
        world.settings, world.database, halo_factory=world.factory, tick=False, listeners=()
    ) as jobs:
        pull = request_sync(
            world.database, world.settings, jobs.queue, world.workspace_id, kind="customers"
        )
        assert _wait_finished(world, pull).status == "succeeded"
        push = request_sync(
            world.database, world.settings, jobs.queue, world.workspace_id, kind="usage"
        )
        done = _wait_finished(world, push)
        assert done.status == "succeeded", done.error
        assert done.counts["created"] == 2
        # The same message delivered again (a resend) finds the run taken: no second write.
        jobs.queue.enqueue_run(push)
        one = request_sync(
            world.database,
            world.settings,
            jobs.queue,
            world.workspace_id,
            kind="usage",
            account_ref="A1",
        )
        assert _wait_finished(world, one).status == "succeeded"
        with pytest.raises(CooldownError, match="You can trigger the next sync in 60 minutes"):
            request_sync(
                world.database, world.settings, jobs.queue, world.workspace_id, kind="usage"
            )
    assert sorted(lic["count"] for lic in world.licences()) == [3, 5]
    with world.database.session() as session:
        statuses = [r.status for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert statuses == ["succeeded"] * 4


def test_a_run_whose_account_vanished_is_closed_not_left_queued(world: World) -> None:
    queue = open_job_queue(world.settings)
    run_id = request_sync(
        world.database, world.settings, queue, world.workspace_id, kind="usage", account_ref="A1"
    )
    queue.close()
    # Between request and execution the account is deleted: the run fails, clearly.
    with world.database.session() as session:
        session.execute(delete(Account).where(Account.ref == "A1"))
    with EmbeddedJobs(
        world.settings, world.database, halo_factory=world.factory, tick=False, listeners=()
    ):
        done = _wait_finished(world, run_id)
    assert done.status == "failed"
    assert "no account with reference 'A1'" in (done.error or "")
