"""``/metrics`` of the web app: run figures from the database, Halo traffic, queue depth."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.testclient import TestClient

from halosync.jobs import open_job_queue
from halosync.jobs.execute import RunOutcome
from halosync.jobs.listeners import count_run
from halosync.jobs.service import request_sync
from halosync.web.app import create_app
from tests.sync.world import make_world


def test_metrics_report_runs_durations_halo_requests_and_queue_depth(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    asyncio.run(world.customers())
    queue = open_job_queue(world.settings)
    app = create_app(world.settings, database=world.database)
    app.state.job_queue = queue
    try:
        request_sync(world.database, world.settings, queue, world.workspace_id, kind="usage")
        count_run(
            RunOutcome(1, world.workspace_id, "customers", "manual", "succeeded", {}, 2.5, None)
        )
        with TestClient(app) as client:
            response = client.get("/metrics")
    finally:
        queue.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'halosync_sync_runs_recorded{kind="customers",status="succeeded"} 1.0' in text
    assert 'halosync_sync_runs_recorded{kind="usage",status="queued"} 1.0' in text
    assert "halosync_sync_queue_depth 1.0" in text
    assert "halosync_job_queue_messages 1.0" in text
    assert 'halosync_sync_recent_run_duration_seconds_count{kind="customers"} 1.0' in text
    assert 'halosync_sync_runs_total{kind="customers",outcome="succeeded"}' in text
    assert 'halosync_sync_run_duration_seconds_bucket{kind="customers",le="5.0"}' in text
    assert 'halosync_halo_requests_total{method="GET",status="200"}' in text
    assert "halosync_halo_rate_limited_total" in text
