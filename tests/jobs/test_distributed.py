"""Distributed mode: three `halosync worker` processes on Redis + PostgreSQL, 50 workspaces.

Every due scheduled run executes exactly once; a worker SIGKILLed mid-run leaves its
workspace locked no longer than the heartbeat timeout, and re-running creates no
duplicate Halo records. Uses a throwaway PostgreSQL schema and a unique Redis queue name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import httpx2
import pytest
from sqlalchemy import func, select

from halosync.jobs import open_job_queue
from halosync.jobs.service import request_sync
from halosync.mapping.service import map_account, map_service
from halosync.settings import Settings
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from halosync.sources.importer import import_document
from halosync.store.base import utcnow
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import HaloClient, HaloItem, LogEntry, SyncRun, Workspace
from halosync.store.workspaces import WorkspaceRepository
from tests.cli_inprocess import data_folder
from tests.conftest import free_port
from tests.sync.world import CLIENT_ID, CLIENT_SECRET, seed, usage_document

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

WORKSPACES = 50
WORKERS = 3
HEARTBEAT_TIMEOUT = 3.0
REQUEUE_SECONDS = 8.0
# A wait with stall=True gives up after this long even while runs keep finishing.
STALL_LIMIT = 180.0
HALOSYNC = str(Path(sys.executable).parent / "halosync")
T = TypeVar("T")


@pytest.fixture
def sim() -> Iterator[tuple[Simulator, str]]:
    app = create_app(
        SimulatorConfig(
            applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))], rate_limit=100_000
        )
    )
    app.state.seed(seed(WORKSPACES))
    with serve_in_thread(app) as url:
        yield app, url


def _settings(tmp_path: Path, database_url: str, redis_url: str, queue_name: str) -> Settings:
    return Settings(
        data_dir=data_folder(tmp_path),
        database_url=database_url,
        queue="redis",
        redis_url=redis_url,
        queue_name=queue_name,
        allow_private_networks=True,
        halo_rate_limit=100_000,
        sync_stale_run_seconds=HEARTBEAT_TIMEOUT,
        jobs_tick_seconds=0.5,
        jobs_requeue_seconds=REQUEUE_SECONDS,
    )


def _prepare(settings: Settings, url: str) -> Database:
    """50 connected workspaces; workspace n bills account A1 (3 seats) on Halo client n."""
    database = Database.from_settings(settings)
    database.migrate()
    box = SecretBox.from_settings(settings)
    long_ago = utcnow() - timedelta(days=3)
    for n in range(1, WORKSPACES + 1):
        with database.session() as session:
            workspace = WorkspaceRepository(session).create(f"ws{n:02d}")
            # Created days ago: today's customers pull and latest usage push are both due.
            workspace.created_at = long_ago
            # Set up and finished: schedules only run after the wizard's Finish.
            workspace.setup_finished_at = long_ago
            HaloConnectionRepository(session, workspace.id, box).save(
                ConnectionDetails(url, None, None, CLIENT_ID, CLIENT_SECRET)
            )
            session.add(HaloClient(workspace_id=workspace.id, halo_id=n, name=f"Client {n} Ltd"))
            session.add(HaloItem(workspace_id=workspace.id, halo_id=1, name="Mail Protection"))
            workspace_id = workspace.id
        import_document(
            database,
            workspace_id,
            usage_document(
                [{"ref": "A1", "name": f"Account {n}", "status": "active", "billed": True}],
                [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 3}],
            ),
        )
        with database.session() as session:
            map_account(session, workspace_id, "A1", n)
            map_service(session, workspace_id, "MAIL", 1)
    return database


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env.update(
        {
            "HALOSYNC_DATA_DIR": str(settings.data_dir),
            "HALOSYNC_DATABASE_URL": settings.resolved_database_url,
            "HALOSYNC_QUEUE": "redis",
            "HALOSYNC_REDIS_URL": settings.redis_url,
            "HALOSYNC_QUEUE_NAME": settings.queue_name,
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_HALO_RATE_LIMIT": "100000",
            "HALOSYNC_SYNC_STALE_RUN_SECONDS": str(HEARTBEAT_TIMEOUT),
            "HALOSYNC_JOBS_TICK_SECONDS": "0.5",
            # A message the killed worker took but never claimed is sent again soon.
            "HALOSYNC_JOBS_REQUEUE_SECONDS": str(REQUEUE_SECONDS),
        }
    )
    return env


def _wait(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    database: Database | None = None,
    *,
    stall: bool = False,
) -> T:
    """Poll ``check`` until it answers. With ``stall`` (and a database), ``timeout`` counts
    from the last run to finish, up to ``STALL_LIMIT`` in all: usage pushes are queued
    behind the customers pulls (a workspace's push is enqueued once its pull finished),
    so on a loaded machine the first push starts only after most of the 50 pulls; what
    fails is the runs no longer finishing, not a slow machine."""
    started = time.monotonic()
    deadline = started + timeout
    finished = -1
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if stall and database is not None:
            now_finished = _finished(database)
            if now_finished != finished:
                finished = now_finished
                deadline = min(time.monotonic() + timeout, started + STALL_LIMIT)
        time.sleep(0.1)
    unfinished = []
    if database is not None:
        unfinished = [
            (r.id, r.kind, r.status, r.counts) for r in _runs(database) if r.finished_at is None
        ]
    waited = time.monotonic() - started
    raise AssertionError(
        f"timed out after {waited:.0f} s waiting for {what}"
        + (f" ({timeout} s without a run finishing)" if stall else "")
        + f"; open: {unfinished}"
    )


def _finished(database: Database) -> int:
    with database.session() as session:
        return (
            session.scalar(
                select(func.count()).select_from(SyncRun).where(SyncRun.finished_at.is_not(None))
            )
            or 0
        )


def _runs(database: Database) -> list[SyncRun]:
    with database.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def test_three_workers_fifty_workspaces_exactly_once_and_a_killed_worker(
    tmp_path: Path,
    pg_schema_url: str,
    redis_url: str,
    queue_name: str,
    sim: tuple[Simulator, str],
) -> None:
    simulator, url = sim
    settings = _settings(tmp_path, pg_schema_url, redis_url, queue_name)
    database = _prepare(settings, url)
    try:
        _run_workers(simulator, settings, database)
    finally:
        # Pooled connections must not outlive the throwaway schema (or this test).
        database.dispose()


def _run_workers(simulator: Simulator, settings: Settings, database: Database) -> None:
    # Licence writes are slow, so runs overlap and a worker can be killed mid-run.
    simulator.state.faults.inject(
        "latency", method="POST", path="/api/softwarelicence*", times=None, seconds=0.3
    )
    env = _env(settings)
    metrics_ports = [free_port() for _ in range(WORKERS)]
    workers = [
        subprocess.Popen(
            [HALOSYNC, "worker", "--workers", "2", "--metrics-port", str(metrics_ports[n])],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    pids = {worker.pid: worker for worker in workers}
    try:
        # Kill the first worker seen in the middle of a usage push (whichever started
        # first: on a busy machine one may come up after the others took every run).
        def pushing_worker() -> subprocess.Popen[str] | None:
            for r in _runs(database):
                if r.status == "running" and r.kind == "usage" and r.owner_pid in pids:
                    return pids[r.owner_pid]
            return None

        victim = _wait(pushing_worker, 30, "a worker to run a usage push", database, stall=True)
        survivors = [w for w in workers if w is not victim]
        killed_at = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        with database.session() as session:
            killed = session.scalars(
                select(SyncRun.id).where(
                    SyncRun.status == "running",
                    SyncRun.owner_pid == victim.pid,
                )
            ).all()
        assert killed

        def killed_runs_closed() -> bool:
            with database.session() as session:
                statuses = session.scalars(
                    select(SyncRun.status).where(SyncRun.id.in_(killed))
                ).all()
            return all(s == "failed" for s in statuses)

        _wait(killed_runs_closed, HEARTBEAT_TIMEOUT + 2, "the dead worker's runs to be reaped")
        assert time.monotonic() - killed_at <= HEARTBEAT_TIMEOUT + 2

        def all_slots_done() -> bool:
            runs = _runs(database)
            return len(runs) == 2 * WORKSPACES and all(
                r.status in ("succeeded", "failed") for r in runs
            )

        _wait(all_slots_done, 45, "every due run to finish", database, stall=True)
        runs = _runs(database)
        assert Counter(r.kind for r in runs) == {"customers": WORKSPACES, "usage": WORKSPACES}
        assert len({r.schedule_key for r in runs}) == 2 * WORKSPACES
        failed = [r for r in runs if r.status == "failed"]
        assert {r.id for r in failed} == set(killed), [r.error for r in failed]
        # Executed exactly once: one "started" log entry per run.
        with database.session() as session:
            started = Counter(
                session.scalars(
                    select(LogEntry.run_id).where(LogEntry.title.like("% sync started"))
                ).all()
            )
        assert set(started.values()) == {1}
        # A run killed between its claim and its first log entry has none.
        assert set(started) | set(killed) == {r.id for r in runs}

        # The workspaces whose push died are unlocked: push again, nothing duplicated.
        failed_workspaces = sorted({r.workspace_id for r in failed if r.kind == "usage"})
        queue = open_job_queue(settings)
        try:
            again = [
                request_sync(database, settings, queue, ws, kind="usage")
                for ws in failed_workspaces
            ]
        finally:
            queue.close()

        def reruns_done() -> bool:
            with database.session() as session:
                statuses = session.scalars(select(SyncRun.status).where(SyncRun.id.in_(again)))
                return all(s == "succeeded" for s in statuses)

        _wait(reruns_done, 20, "the re-runs to succeed")
        # Each worker serves its own process metrics.
        scraped = [
            httpx2.get(
                f"http://127.0.0.1:{metrics_ports[workers.index(w)]}/metrics", timeout=5
            ).text
            for w in survivors
        ]
        assert all("halosync_sync_runs_total" in text for text in scraped)
        pushed = [t for t in scraped if 'kind="usage",outcome="succeeded"' in t]
        assert pushed, "no surviving worker reports a successful usage push"
        assert 'halosync_halo_requests_total{method="POST",status="201"}' in pushed[0]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()
    assert all(w.returncode == 0 for w in survivors)
    licences = simulator.state.records("SoftwareLicence")
    per_client = Counter(lic["client_id"] for lic in licences)
    assert per_client == dict.fromkeys(range(1, WORKSPACES + 1), 1)
    with database.session() as session:
        synced = session.scalar(
            select(func.count())
            .select_from(Workspace)
            .where(Workspace.last_usage_sync_at.is_not(None))
        )
    assert synced == WORKSPACES
