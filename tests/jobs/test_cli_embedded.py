"""Embedded mode end to end: `halosync serve` on SQLite runs a scheduled sync by itself.

The schedule clock is shifted (HALOSYNC_JOBS_CLOCK_OFFSET_SECONDS) so that a slot saved
for a few minutes from now is already due, and the tick runs every half second. The
workspace is prepared in-process (same SQLite file) to keep the test quick.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
from sqlalchemy import select

from halosync.mapping.service import map_account, map_service
from halosync.settings import Settings
from halosync.sources.importer import import_document
from halosync.store.base import utcnow
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import SyncRun
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.customers import run_customers_sync
from tests.e2e.cli import Cli, cli_against_simulator
from tests.schema_template import migrated
from tests.sync.world import CLIENT_ID, CLIENT_SECRET, seed, usage_document


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(cli: Cli) -> Database:
    settings = Settings(
        data_dir=Path(cli.env["HALOSYNC_DATA_DIR"]),
        database_url=cli.env["HALOSYNC_DATABASE_URL"],
        allow_private_networks=True,
    )
    database = migrated(Database.from_settings(settings))
    box = SecretBox.from_settings(settings)
    with database.session() as session:
        workspace_id = WorkspaceRepository(session).create("acme").id
        HaloConnectionRepository(session, workspace_id, box).save(
            ConnectionDetails(cli.url, None, None, CLIENT_ID, CLIENT_SECRET)
        )
    import_document(
        database,
        workspace_id,
        usage_document(
            [
                {"ref": "A1", "name": "Alpha", "status": "active", "billed": True},
                {"ref": "A2", "name": "Beta", "status": "active", "billed": True},
            ],
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": 10},
                {"account_ref": "A2", "service_ref": "MAIL", "quantity": 7},
            ],
        ),
    )
    asyncio.run(run_customers_sync(database, box, settings, workspace_id))
    with database.session() as session:
        map_account(session, workspace_id, "A1", 1)
        map_account(session, workspace_id, "A2", 2)
        map_service(session, workspace_id, "MAIL", 1)
        # Schedules start at the setup's Finish (this connection was saved untested).
        WorkspaceRepository(session).get(workspace_id).setup_finished_at = utcnow()
    return database


def _wait_for_run(
    database: Database, predicate: Callable[[SyncRun], bool], timeout: float
) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.session() as session:
            for run in session.scalars(select(SyncRun).order_by(SyncRun.id)):
                if predicate(run):
                    return run
        time.sleep(0.1)
    raise AssertionError(f"no matching run within {timeout} s")


def test_serve_runs_a_scheduled_usage_sync_on_its_own(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(2)) as cli:
        database = _prepare(cli)
        slot = (datetime.now(UTC) + timedelta(minutes=3)).replace(second=0, microsecond=0)
        saved = cli.json("schedule", "set", "--kind", "usage", "--daily", f"{slot:%H:%M}")
        assert saved["next_run_at"] == slot.isoformat()
        offset = (slot - datetime.now(UTC)).total_seconds() + 2
        port = _free_port()
        cli.env.update(
            {"HALOSYNC_JOBS_TICK_SECONDS": "0.5", "HALOSYNC_JOBS_CLOCK_OFFSET_SECONDS": str(offset)}
        )
        server = cli.popen("serve", "--port", str(port))
        try:
            run = _wait_for_run(
                database,
                lambda r: r.trigger == "schedule" and r.status not in ("queued", "running"),
                timeout=30,
            )
            assert run.status == "succeeded", run.error
            assert run.kind == "usage"
            assert run.schedule_key is not None
            assert run.schedule_key.endswith(f":usage:{slot.isoformat()}")
            assert run.counts["created"] == 2
            licences = cli.sim.state.records("SoftwareLicence")
            assert sorted(lic["count"] for lic in licences) == [7, 10]
            metrics = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert 'halosync_sync_runs_total{kind="usage",outcome="succeeded"} 1.0' in metrics
            # Sync Now from the CLI is executed by the running server.
            queued = json.loads(cli("sync", "now", "--kind", "customers", "--json").stdout)
            pulled = _wait_for_run(
                database,
                lambda r: r.id == queued["run_id"] and r.status == "succeeded",
                timeout=20,
            )
            assert pulled.trigger == "manual"
            # Ticks kept running all along and never enqueued the slot again.
            listed = cli.json("runs")["runs"]
            assert [r["trigger"] for r in listed].count("schedule") == 1
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                _out, err = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.communicate()
                raise
        database.dispose()
        assert server.returncode == 0, err
        assert "halosync stopped." in err
