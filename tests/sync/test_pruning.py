"""Runs and their per-pair results are kept for the log retention, then pruned with the logs.

The ledger and the audit trail are the lasting record and stay; a queued or running run
is never pruned; the newest finished run of each kind stays, so the last sync is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from halosync.jobs.tick import prune_logs
from halosync.store.models import AuditEntry, LedgerEntry, LogEntry, RunResult, SyncRun
from halosync.sync.runs import last_full_sync_finished_at, prune_history, start_run
from tests.sync.world import World, make_world

LONG_AGO = timedelta(days=40)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")
    w = make_world(tmp_path, database_url=url)
    try:
        yield w
    finally:
        w.database.dispose()


def _age_everything(world: World, by: timedelta) -> None:
    """Move every run, result, log entry and audit entry ``by`` into the past."""
    with world.database.session() as session:
        for run in session.scalars(select(SyncRun)):
            run.created_at -= by
            for name in ("started_at", "finished_at", "heartbeat_at", "enqueued_at"):
                if getattr(run, name) is not None:
                    setattr(run, name, getattr(run, name) - by)
        for result in session.scalars(select(RunResult)):
            result.at -= by
        for entry in session.scalars(select(LogEntry)):
            entry.created_at -= by
        for audit in session.scalars(select(AuditEntry)):
            audit.at -= by


def _count(world: World, model: type[object]) -> int:
    with world.database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _runs(world: World) -> list[tuple[int, str]]:
    with world.database.session() as session:
        return [(r.id, r.kind) for r in session.scalars(select(SyncRun).order_by(SyncRun.id))]


def _result_runs(world: World) -> set[int]:
    with world.database.session() as session:
        return set(session.scalars(select(RunResult.run_id)))


def test_runs_and_results_past_retention_go_with_the_logs_and_the_ledger_and_audit_stay(
    world: World,
) -> None:
    world.ready_one_account()  # run 1: the customers pull
    created = asyncio.run(world.usage())  # run 2: writes the licence
    assert created.counts["created"] == 1
    asyncio.run(world.usage())  # run 3: nothing to write
    assert [kind for _, kind in _runs(world)] == ["customers", "usage", "usage"]
    assert _result_runs(world) >= {2, 3}
    ledger, audit = _count(world, LedgerEntry), _count(world, AuditEntry)
    assert (ledger, audit) != (0, 0)
    _age_everything(world, LONG_AGO)
    # A longer retention keeps everything, also through the end of the next run.
    world.set(log_retention_days=60)
    asyncio.run(world.usage())  # run 4
    assert [run_id for run_id, _ in _runs(world)] == [1, 2, 3, 4]
    assert _result_runs(world) >= {2, 3, 4}

    # Back to 30 days: the end of the next run prunes what is older.
    world.set(log_retention_days=30)
    asyncio.run(world.usage())  # run 5
    # Runs 2 and 3 are gone (older than 30 days, and a newer usage run of their kind is
    # there); run 1, the only customers pull, stays without its results.
    assert [run_id for run_id, _ in _runs(world)] == [1, 4, 5]
    assert _result_runs(world) == {4, 5}
    with world.database.session() as session:
        assert (
            last_full_sync_finished_at(
                session, world.workspace_id, kind="customers", triggers=("manual",)
            )
            is not None
        )
        logs = list(session.scalars(select(LogEntry)))
        assert logs
        assert {entry.run_id for entry in logs} <= {4, 5, None}
        # The lasting record: every ledger row and audit entry is still there, no longer
        # naming a pruned run.
        assert set(session.scalars(select(AuditEntry.run_id))) == {None}
        assert set(session.scalars(select(LedgerEntry.last_run_id))) == {None}
    assert (_count(world, LedgerEntry), _count(world, AuditEntry)) == (ledger, audit)


def test_a_queued_or_running_run_is_never_pruned(world: World) -> None:
    world.ready_one_account()
    asyncio.run(world.usage())
    running = start_run(world.database, world.workspace_id, kind="usage", trigger="schedule")
    _age_everything(world, LONG_AGO)
    with world.database.session() as session:
        pruned = prune_history(session, world.workspace_id, 30)
    # The finished usage run is the newest of its kind and stays (its results go); the
    # running one, started 40 days ago, is untouched, with its results.
    assert pruned.results > 0
    assert running in [run_id for run_id, _ in _runs(world)]
    with world.database.session() as session:
        run = session.get(SyncRun, running)
        assert run is not None
        assert run.status == "running"


def test_the_hourly_tick_prunes_runs_of_every_workspace(world: World) -> None:
    world.ready_one_account()
    asyncio.run(world.usage())
    asyncio.run(world.usage())
    _age_everything(world, LONG_AGO)
    pruned = prune_logs(world.database)
    # The first usage run (superseded by the second) goes; the rest only lose results.
    assert pruned.runs == 1
    assert pruned.results > 0
    assert pruned.log_entries > 0
    assert [kind for _, kind in _runs(world)] == ["customers", "usage"]
    assert _result_runs(world) == set()
