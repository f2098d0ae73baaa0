"""Writes Halo applied but never confirmed: pinned cases of what the random runs look for.

Each test sets one precise fault where the random mixes hit it only now and then, and
ends with the same oracle: exactly the right records, no duplicate, ledger in step.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from halosync.simulator.state import SimulatorState
from halosync.sync.results import UsageReport
from tests.reliability.chaos import Trap, TrapKind
from tests.reliability.scenario import Scenario, open_scenario

pytestmark = pytest.mark.reliability

# Seeds whose scenario has at least four pairs to create (so a batch holds several rows).
LICENCE_SEED = 7
INVOICE_SEED = 7

# Each target, and for invoice lines each write path (the invoice posted back whole, or
# POST /RecurringInvoice/updatelines): "target" or "target/path".
WRITES = ["licence", "invoice_line/invoice", "invoice_line/update_lines"]


def _opened(tmp_path: Path, seed: int, writes: str) -> contextlib.AbstractContextManager[Scenario]:
    target, _, path = writes.partition("/")
    return open_scenario(
        tmp_path,
        seed,
        target=target,  # type: ignore[arg-type]
        line_write_path=path or None,  # type: ignore[arg-type]
    )


def _entity(scenario: Scenario) -> str:
    return "/api/softwarelicence*" if scenario.target == "licence" else "/api/recurringinvoice*"


def _unconfirmed_create(scenario: Scenario, kind: TrapKind) -> UsageReport:
    """Halo applies the first create batch but answers ``kind``; from then on every read
    of the entity fails, so the search for the batch's markers fails too."""
    entity = _entity(scenario)

    def break_reads(state: SimulatorState) -> None:
        state.faults.inject("error", "GET", entity, times=None)

    trap = scenario.sim.arm(Trap(kind, "POST", entity, nth=1, action=break_reads))
    report = asyncio.run(scenario.usage())
    assert trap.fired.is_set()
    return report


def _clean_rerun(scenario: Scenario) -> None:
    scenario.sim.state.faults.clear()
    scenario.sim.disarm()
    final = asyncio.run(scenario.usage())
    assert final.status == "succeeded", final
    assert final.counts["failed"] == 0
    scenario.verify()


@pytest.mark.parametrize("writes", WRITES)
def test_create_applied_then_dropped_while_halo_cannot_be_searched(
    tmp_path: Path, writes: str
) -> None:
    """The batch was created but unanswered, and the search for it fails too: no resend."""
    with _opened(tmp_path, LICENCE_SEED, writes) as scenario:
        report = _unconfirmed_create(scenario, "apply_then_drop")
        assert report.status in ("succeeded", "failed")
        assert len(scenario.ours()) == len({r["id"] for r in scenario.ours()})
        _clean_rerun(scenario)


@pytest.mark.parametrize("writes", WRITES)
def test_create_applied_then_500_is_adopted_not_duplicated(tmp_path: Path, writes: str) -> None:
    with _opened(tmp_path, INVOICE_SEED, writes) as scenario:
        trap = scenario.sim.arm(Trap("apply_then_error", "POST", _entity(scenario), nth=1))
        report = asyncio.run(scenario.usage())
        assert trap.fired.is_set()
        assert report.status == "succeeded", report
        scenario.verify()
        _clean_rerun(scenario)


@pytest.mark.parametrize("writes", WRITES)
def test_unconfirmed_create_names_the_posts_status_when_the_search_fails_too(
    tmp_path: Path, writes: str
) -> None:
    """Halo applied the batch but answered 500, then every search for it failed: the fail
    reason names the POST's 500, not the search's error."""
    with _opened(tmp_path, LICENCE_SEED, writes) as scenario:
        report = _unconfirmed_create(scenario, "apply_then_error")
        failed = [c for c in report.changes if c.action == "fail"]
        assert failed
        if scenario.target == "invoice_line":
            # Lines go a batch of invoices per POST, each batch read again first: the
            # batches after the first could not be read, so nothing was sent for them (and
            # they say so).
            unsent = [c for c in failed if "could not be read again before writing" in c.reason]
            assert all("nothing was written" in c.reason for c in unsent)
            failed = [c for c in failed if c not in unsent]
            assert failed
        for change in failed:
            cause, _, search = change.reason.partition("could not be searched")
            assert "500 (Internal Server Error) to POST /api/" in cause, change.reason
            assert "GET" not in cause, change.reason
            assert "GET" in search, change.reason
        _clean_rerun(scenario)
