"""A ``halosync sync usage`` SIGKILLed mid-run, then run again: no duplicates, ledger right."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from halosync.simulator.server import serve_in_thread
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.models import AuditEntry, LedgerEntry, SyncRun
from tests.cli_inprocess import data_folder
from tests.e2e.cli import Cli
from tests.sync.world import CLIENT_ID, CLIENT_SECRET, make_world, seed, usage_document

ACCOUNTS = 30


@pytest.mark.reliability
@pytest.mark.parametrize("posts_before_kill", [1, 3])
def test_sigkill_mid_run_then_rerun(tmp_path: Path, posts_before_kill: int) -> None:
    world = make_world(tmp_path, document=seed(ACCOUNTS))
    world.import_usage(
        usage_document(
            [
                {"ref": f"A{n:02d}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
                for n in range(1, ACCOUNTS + 1)
            ],
            [
                {"account_ref": f"A{n:02d}", "service_ref": "MAIL", "quantity": n}
                for n in range(1, ACCOUNTS + 1)
            ],
        )
    )
    assert asyncio.run(world.customers()).status == "succeeded"
    for n in range(1, ACCOUNTS + 1):
        world.map_account(f"A{n:02d}", n)
    world.map_service("MAIL", 1)
    world.sim.state.faults.inject(
        "latency", method="POST", path="/api/softwarelicence", times=None, seconds=0.25
    )
    with serve_in_thread(world.sim) as url:
        with world.database.session() as session:
            HaloConnectionRepository(session, world.workspace_id, world.box).save(
                ConnectionDetails(url, None, None, CLIENT_ID, CLIENT_SECRET)
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")} | {
            "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
            "HALOSYNC_DATABASE_URL": world.settings.resolved_database_url,
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_SYNC_BATCH_SIZE": "4",
        }
        cli = Cli(env, world.sim, url)
        victim = cli.popen("sync", "usage", "--json")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            posts = [
                e
                for e in world.sim.state.request_log
                if e.method == "POST" and e.path.lower() == "/api/softwarelicence"
            ]
            if len(posts) >= posts_before_kill or victim.poll() is not None:
                break
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=10)
        assert victim.returncode == -signal.SIGKILL
        time.sleep(0.5)  # let an in-flight POST land in Halo after its client died
        interrupted = len(world.sim.state.records("SoftwareLicence"))
        assert 0 < interrupted < ACCOUNTS
        with world.database.session() as session:
            recorded = len(
                session.scalars(select(LedgerEntry).where(LedgerEntry.state == "written")).all()
            )

        world.sim.state.faults.clear()
        rerun = cli("sync", "usage", "--json")
        report = json.loads(rerun.stdout)
        assert report["status"] == "succeeded"
        assert report["counts"]["failed"] == 0
        assert report["counts"]["created"] + report["counts"]["unchanged"] == ACCOUNTS
        # What the killed run created but never recorded counts as created, not unchanged.
        assert report["counts"]["unchanged"] == recorded

    licences = world.sim.state.records("SoftwareLicence")
    assert len(licences) == ACCOUNTS
    assert len({lic["client_id"] for lic in licences}) == ACCOUNTS
    by_id = {lic["id"]: lic for lic in licences}
    with world.database.session() as session:
        ledger = session.scalars(select(LedgerEntry)).all()
        runs = session.scalars(select(SyncRun).where(SyncRun.kind == "usage")).all()
        assert len(ledger) == ACCOUNTS
        for row in ledger:
            assert row.state == "written"
            assert row.halo_record_id in by_id
            assert by_id[row.halo_record_id]["client_id"] == row.halo_client_id
            assert by_id[row.halo_record_id]["count"] == row.last_quantity
        assert sorted(run.status for run in runs) == ["failed", "succeeded"]
        # The audit trail holds every create, whichever run recorded it.
        created = session.scalars(
            select(AuditEntry.halo_record_id).where(AuditEntry.operation == "create")
        ).all()
        assert sorted(i or 0 for i in created) == sorted(by_id)
