"""The usage push and the run lock on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from halosync.sync.errors import SyncInProgressError
from halosync.sync.runs import start_run
from tests.sync.world import make_world, seed


@pytest.mark.postgres
def test_usage_sync_and_run_lock_on_postgres(tmp_path: Path, pg_schema_url: str) -> None:
    world = make_world(tmp_path, document=seed(2), database_url=pg_schema_url)
    world.ready_one_account()
    report = asyncio.run(world.usage())
    assert report.counts["created"] == 1
    again = asyncio.run(world.usage())
    assert again.counts["unchanged"] == 1
    start_run(world.database, world.workspace_id, kind="customers", trigger="schedule")
    with pytest.raises(SyncInProgressError):
        asyncio.run(world.usage())
    world.database.dispose()
