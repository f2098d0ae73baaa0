"""``halosync sync usage`` SIGKILLed at chosen or random points, then run again.

The command runs as a subprocess against a simulator on a real port. Where it dies varies
per seed: while a read is in flight; after the pending ledger rows are committed but
before Halo has the POST (the request is held and never applied); after Halo applied the
POST but before its answer came back (so before the ledger commit); or at a random moment
with latency (and sometimes 500s) on every request. After the kill, Halo may also be
"restarted" with records edited by hand. A clean re-run must then leave Halo and the
ledger exactly right, and a repeat must write nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from halosync.domain.models import ACTIVE_RUN_STATUSES
from halosync.store.models import SyncRun
from tests.e2e.cli import Cli
from tests.reliability.chaos import Trap
from tests.reliability.conftest import TALLY, reproducible, seeds
from tests.reliability.scenario import Scenario, mutate_vendor, open_scenario

pytestmark = pytest.mark.reliability

KILL_POINTS = ("during_read", "before_post", "after_post", "random_moment")
_WAIT_FOR_TRAP_SECONDS = 30.0


def cli_for(scenario: Scenario) -> Cli:
    """The halosync command line on the scenario's database, data directory and simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env.update(
        {
            "HOME": str(scenario.tmp_path / "home"),
            "HALOSYNC_DATA_DIR": str(scenario.settings.data_dir),
            "HALOSYNC_DATABASE_URL": scenario.settings.resolved_database_url,
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_SYNC_BATCH_SIZE": str(scenario.settings.sync_batch_size),
            "HALOSYNC_HALO_RATE_WINDOW_SECONDS": "0.2",
        }
    )
    return Cli(env, scenario.sim, scenario.url)


def _entity(scenario: Scenario) -> str:
    return "/api/softwarelicence*" if scenario.target == "licence" else "/api/recurringinvoice*"


def kill_mid_run(scenario: Scenario, cli: Cli, rng: random.Random, point: str) -> str:
    """Start a usage sync and SIGKILL it at ``point`` (trap positions drawn from ``rng``)."""
    entity = _entity(scenario)
    trap: Trap | None = None
    if point == "during_read":
        trap = scenario.sim.arm(Trap("apply_then_hold", "GET", entity, nth=1))
    elif point == "before_post":
        trap = scenario.sim.arm(Trap("hold_then_discard", "POST", entity, nth=rng.randint(1, 3)))
    elif point == "after_post":
        trap = scenario.sim.arm(Trap("apply_then_hold", "POST", entity, nth=rng.randint(1, 3)))
    else:
        scenario.sim.state.faults.inject("latency", "*", "/api/*", times=None, seconds=0.05)
        if rng.random() < 0.5:
            scenario.sim.state.faults.inject("error", "*", "/api/*", times=None, probability=0.15)
    victim = cli.popen("sync", "usage", "--json")
    try:
        if trap is not None:
            deadline = time.monotonic() + _WAIT_FOR_TRAP_SECONDS
            while not trap.fired.wait(0.02):
                if victim.poll() is not None or time.monotonic() > deadline:
                    break
        else:
            time.sleep(rng.uniform(0.8, 2.5))
        fired = trap is None or trap.fired.is_set()
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
            outcome = "killed" if fired else "killed (trap not reached)"
        else:
            outcome = "finished before the kill"
        victim.communicate(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate(timeout=30)
        scenario.sim.state.faults.clear()
        scenario.sim.disarm()
    TALLY[f"kill {point}: {outcome}"] += 1
    return f"{point}: {outcome}"


def clean_rerun(cli: Cli) -> dict[str, object]:
    """Run a usage sync to its end; it must succeed with no failed record."""
    done: subprocess.CompletedProcess[str] = cli("sync", "usage", "--json")
    report = json.loads(done.stdout)
    assert report["status"] == "succeeded", report
    assert report["counts"]["failed"] == 0, report
    return dict(report)


def one_iteration(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed * 104729)
    with open_scenario(tmp_path, seed) as scenario:
        TALLY[f"kill scenario {scenario.label}"] += 1
        cli = cli_for(scenario)
        if rng.random() < 0.5:
            # Make the killed run a mix of updates and creates.
            clean_rerun(cli)
            mutate_vendor(rng, scenario.vendor)
            scenario.import_vendor()
        kill_mid_run(scenario, cli, rng, KILL_POINTS[seed % len(KILL_POINTS)])
        if rng.random() < 0.3:
            scenario.sim.state.restart()
            scenario.hand_edits(rng)
        clean_rerun(cli)
        writes = scenario.posts()
        repeat = clean_rerun(cli)
        counts = repeat["counts"]
        assert isinstance(counts, dict)
        assert counts["created"] == counts["updated"] == 0, repeat
        assert scenario.posts() == writes, "a repeat sync with nothing changed wrote to Halo"
        scenario.verify()
        with scenario.database.session() as session:
            stuck = session.scalars(
                select(SyncRun).where(SyncRun.status.in_(ACTIVE_RUN_STATUSES))
            ).all()
            assert not stuck, f"runs left active: {[(r.id, r.status) for r in stuck]}"
        TALLY["iterations (SIGKILL and re-run)"] += 1


@pytest.mark.parametrize("seed", seeds(4))
def test_usage_sync_killed_anywhere_then_rerun_ends_exact(tmp_path: Path, seed: int) -> None:
    with reproducible(seed, "SIGKILL mid usage sync"):
        one_iteration(tmp_path, seed)
