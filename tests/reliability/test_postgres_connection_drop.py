"""PostgreSQL drops the usage sync's connections mid-run (``pg_terminate_backend``).

The sync runs as a ``halosync`` subprocess whose connections carry their own
``application_name``; once it has started writing to Halo, another connection terminates
every backend with that name, again and again for a moment. The run must end without a
traceback (failed with a clear error, or succeeded if every drop hit an idle pooled
connection), leave no run holding the workspace lock once its process is gone, and a
re-run must end with Halo and the ledger exactly right.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from halosync.store.models import SyncRun
from tests.reliability.chaos import Trap
from tests.reliability.conftest import TALLY, reproducible, seeds
from tests.reliability.scenario import open_scenario
from tests.reliability.test_sigkill_usage_sync import clean_rerun, cli_for

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

_TERMINATE_FOR_SECONDS = 0.6


def _named(url: str, application_name: str) -> str:
    parsed = make_url(url)
    named = parsed.set(query={**parsed.query, "application_name": application_name})
    return named.render_as_string(hide_password=False)


def one_iteration(tmp_path: Path, seed: int, pg_schema_url: str) -> None:
    with open_scenario(tmp_path, seed, database_url=pg_schema_url) as scenario:
        cli = cli_for(scenario)
        victim_name = f"halosync-victim-{uuid.uuid4().hex[:8]}"
        cli.env["HALOSYNC_DATABASE_URL"] = _named(pg_schema_url, victim_name)
        entity = "/api/softwarelicence*" if scenario.target == "licence" else "/api/recurring*"
        scenario.sim.state.faults.inject("latency", "*", "/api/*", times=None, seconds=0.05)
        writing = scenario.sim.arm(Trap("action_before", "POST", entity, nth=1))
        admin = create_engine(pg_schema_url)
        terminated = [0]

        def terminate() -> None:
            writing.fired.wait(timeout=60)
            until = time.monotonic() + _TERMINATE_FOR_SECONDS
            while time.monotonic() < until:
                with admin.begin() as connection:
                    terminated[0] += len(
                        connection.execute(
                            text(
                                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = :name"
                            ),
                            {"name": victim_name},
                        ).all()
                    )
                time.sleep(0.02)

        killer = threading.Thread(target=terminate)
        killer.start()
        try:
            victim = cli("sync", "usage", "--json", check=False)
        finally:
            writing.fired.set()
            killer.join(timeout=30)
            admin.dispose()
            scenario.sim.state.faults.clear()
            scenario.sim.disarm()
        TALLY["postgres: backends terminated"] += terminated[0]
        TALLY[f"postgres: dropped run exited {victim.returncode}"] += 1
        assert terminated[0] > 0, "the run's connections were never terminated"
        assert "Traceback" not in victim.stderr, victim.stderr
        if victim.returncode != 0:
            assert victim.returncode == 1, victim.stderr
            assert "Lost the connection to the database" in victim.stderr, victim.stderr
            assert "[SQL:" not in victim.stderr, victim.stderr
            with scenario.database.session() as session:
                dropped = session.scalars(
                    select(SyncRun).where(SyncRun.kind == "usage").order_by(SyncRun.id.desc())
                ).first()
                assert dropped is not None
                assert dropped.status == "failed", (dropped.status, dropped.error)
                assert "Lost the connection to the database" in (dropped.error or "")
        else:
            assert json.loads(victim.stdout)["status"] in ("succeeded", "failed")
        clean_rerun(cli)
        scenario.verify()
        with scenario.database.session() as session:
            statuses = session.scalars(select(SyncRun.status).where(SyncRun.kind == "usage")).all()
        assert not {"queued", "running"} & set(statuses), statuses
        TALLY["iterations (PostgreSQL connection drop)"] += 1


@pytest.mark.parametrize("seed", seeds(1))
def test_postgres_connection_dropped_mid_run(tmp_path: Path, seed: int, pg_schema_url: str) -> None:
    with reproducible(seed, "PostgreSQL connection drop"):
        one_iteration(tmp_path, seed, pg_schema_url)
