"""Usage syncs through random fault mixes, then a clean re-run: Halo and the ledger exact.

Each iteration draws a scenario (target, price mode, vendor data, foreign records) and
runs several usage syncs while Halo misbehaves: 500s (JSON, plain and HTML), timeouts,
dropped connections, 429 storms, tokens revoked mid-run, Halo "restarted" with records
changed or deleted by hand, and writes Halo applied but never answered. Between runs the
vendor's counts change. Then the faults stop, one clean run must succeed, a second must
write nothing, and the oracle checks every record, every foreign record and the ledger.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from halosync.simulator.state import SimulatorState
from halosync.sync.results import UsageReport
from tests.reliability.chaos import Trap, TrapKind
from tests.reliability.conftest import TALLY, reproducible, seeds
from tests.reliability.scenario import (
    CLIENT_TIMEOUT_SECONDS,
    Scenario,
    mutate_vendor,
    open_scenario,
)

pytestmark = pytest.mark.reliability

SIMULATOR_FAULTS = (
    "error",
    "error_plain",
    "html_error",
    "drop",
    "timeout",
    "rate_limit",
    "truncate",  # Halo applies the request, then its answer is cut off halfway
    "maintenance",  # a proxy's 200 HTML page in place of the answer
)
POST_TRAPS: tuple[TrapKind, ...] = ("apply_then_drop", "apply_then_error")


def _entity_glob(scenario: Scenario) -> str:
    return "/api/softwarelicence*" if scenario.target == "licence" else "/api/recurringinvoice*"


def arm_faults(scenario: Scenario, rng: random.Random) -> list[Trap]:
    """Arm a random mix of simulator faults and traps for the next run."""
    entity = _entity_glob(scenario)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(SIMULATOR_FAULTS)
        method = rng.choice(("GET", "POST", "*"))
        path = rng.choice((entity, entity, "/api/*", "/auth/token"))
        seconds: float | None = None
        times: int | None
        probability = 1.0
        if kind == "timeout":
            times, seconds = rng.randint(1, 2), CLIENT_TIMEOUT_SECONDS * 2
        else:
            times = rng.choice((1, 2, 3, 6, None))
            if times is None:
                probability = round(rng.uniform(0.1, 0.3), 2)
        scenario.sim.state.faults.inject(kind, method, path, times, probability, seconds)
        TALLY[f"armed {kind}"] += 1
    traps: list[Trap] = []
    if rng.random() < 0.5:
        kind_: TrapKind = rng.choice(POST_TRAPS)
        breaks = rng.random() < 0.4
        failing_reads = rng.choice((1, 3, 6))

        def break_reads(state: SimulatorState) -> None:
            # The search for the unconfirmed create fails too, for a while.
            state.faults.inject("error", "GET", entity, times=failing_reads)

        traps.append(
            Trap(
                kind_,
                "POST",
                entity,
                nth=rng.randint(1, 3),
                action=break_reads if breaks else None,
            )
        )
    if rng.random() < 0.3:
        traps.append(
            Trap(
                "action_before",
                "*",
                "/api/*",
                nth=rng.randint(1, 8),
                action=lambda state: state.revoke_tokens(),
            )
        )
    if rng.random() < 0.25:
        edits = random.Random(rng.random())

        def restart_with_edits(_state: object) -> None:
            scenario.sim.state.restart()
            scenario.hand_edits(edits)

        traps.append(
            Trap("action_before", "*", "/api/*", nth=rng.randint(2, 10), action=restart_with_edits)
        )
    for trap in traps:
        scenario.sim.arm(trap)
        TALLY[f"armed trap {trap.kind}"] += 1
    return traps


def disarm(scenario: Scenario, traps: list[Trap]) -> None:
    """Count what fired, then stop every fault."""
    for fault in scenario.sim.state.faults.all():
        TALLY[f"fired {fault.kind.value}"] += fault.fired
    for trap in traps:
        if trap.fired.is_set():
            TALLY[f"fired trap {trap.kind}"] += 1
    scenario.sim.state.faults.clear()
    scenario.sim.disarm()


def check_faulty_outcome(report: UsageReport) -> None:
    """A run under faults may fail, but only with an explanation, never as a crash."""
    TALLY[f"faulty run {report.status}"] += 1
    assert report.status in ("succeeded", "failed", "halted"), report
    assert not (report.error or "").startswith("Unexpected error"), report.error


def one_iteration(tmp_path: Path, seed: int) -> None:
    with open_scenario(tmp_path, seed) as scenario:
        TALLY[f"scenario {scenario.label}"] += 1
        rng = random.Random(seed * 7919)
        if rng.random() < 0.6:
            first = asyncio.run(scenario.usage())
            assert first.status == "succeeded", first
        for _ in range(rng.randint(2, 3)):
            if rng.random() < 0.5:
                mutate_vendor(rng, scenario.vendor)
                scenario.import_vendor()
            if rng.random() < 0.4:
                scenario.hand_edits(rng)
            if rng.random() < 0.3:
                scenario.sim.state.restart()
            traps = arm_faults(scenario, rng)
            try:
                report = asyncio.run(scenario.usage())
            finally:
                disarm(scenario, traps)
            check_faulty_outcome(report)
        final = asyncio.run(scenario.usage())
        assert final.status == "succeeded", final
        assert final.counts["failed"] == 0, [c for c in final.changes if c.action == "fail"]
        writes = scenario.posts()
        repeat = asyncio.run(scenario.usage())
        assert repeat.status == "succeeded", repeat
        assert repeat.counts["created"] == repeat.counts["updated"] == 0, repeat.counts
        assert scenario.posts() == writes, "a repeat sync with nothing changed wrote to Halo"
        scenario.verify()
        TALLY["iterations (usage sync under faults)"] += 1


@pytest.mark.parametrize("seed", seeds(6))
def test_usage_sync_under_random_faults_ends_exact(tmp_path: Path, seed: int) -> None:
    with reproducible(seed, "usage sync under faults"):
        one_iteration(tmp_path, seed)
