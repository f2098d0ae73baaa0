"""An approval survives a write HaloPSA did not take: end to end against the simulator.

An approval is used up only when its change is written (the ledger says so, in the same
transaction), when a sync plans another change for its identity, or by an exclusion. A
write that failed (a 500, a dropped connection, a refusal, the rate limit) leaves it armed
for the exact change approved, so the next sync writes it without asking again; a write
whose outcome is unknown (the ledger's pending row) is looked for by its tag first and
never sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from halosync.domain.review import ReviewPolicy
from halosync.domain.rules import QuantityRule
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.rules.service import RuleTarget, set_rule
from halosync.simulator.state import SimulatorState
from halosync.store.models import LedgerEntry, ReviewItem
from halosync.sync.approve import STANDS, STOPPED
from halosync.sync.review import list_review, set_review_policy
from tests.reliability.chaos import ChaosSimulator, Trap
from tests.sync.test_review_terms import (
    TARGETS,
    approve,
    billed,
    feed_one,
    held_ids,
    log_entries,
    run,
)
from tests.sync.world import FAST_RETRY, World, make_world, seed

ENTITY = {"licence": "/api/softwarelicence*", "invoice_line": "/api/recurringinvoice*"}


class ChaosWorld(World):
    """A world whose simulator can also lose answers (:class:`ChaosSimulator`), and whose
    client waits out a 429 in milliseconds (a rate window of 50 ms)."""

    gone: tuple[str, dict[str, Any]] | None = None
    """A record a fault removed from Halo (seed key, record), to put back."""

    def factory(self, config: HaloConnectionConfig) -> HaloApiClient:
        return HaloApiClient(
            config,
            transport=httpx2.ASGITransport(app=self.sim),
            retry=FAST_RETRY,
            allow_private_networks=True,
            rate_window_seconds=0.05,
        )


def chaos_world(
    tmp_path: Path, target: str, quantity: int, database_url: str | None = None
) -> ChaosWorld:
    """Client 1 (with invoice -1), A1's MAIL at ``quantity``, a ceiling of 100 on MAIL, the
    default review policy; no sync has run yet."""
    plain = make_world(tmp_path, target=target, document={}, database_url=database_url)
    world = ChaosWorld(**{f.name: getattr(plain, f.name) for f in fields(plain)})
    world.sim = ChaosSimulator(plain.sim.config)
    world.sim.state.seed(seed(1, with_invoices=True))
    feed_one(world, quantity)
    assert run(world.customers()).status == "succeeded"
    world.map_account("A1", 1, -1 if target == "invoice_line" else None)
    world.map_service("MAIL", 1)
    ceiling = QuantityRule(ceiling=100)
    set_rule(world.database, world.workspace_id, RuleTarget(service_ref="MAIL"), ceiling, actor="t")
    set_review_policy(world.database, world.workspace_id, ReviewPolicy(), actor="setup")
    return world


def held_at_1200(
    tmp_path: Path, target: str, database_url: str | None = None
) -> tuple[ChaosWorld, int]:
    """12 written, then 1200 (above the ceiling) held: the world and the held item's id."""
    world = chaos_world(tmp_path, target, 12, database_url)
    assert run(world.usage()).counts["created"] == 1
    feed_one(world, 1200)
    assert [c.held for c in run(world.usage()).changes] == [True]
    [item] = held_ids(world)
    return world, item


def spent_run(world: World, item_id: int) -> int | None:
    with world.database.session() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        assert item.status == "approved"
        return item.spent_run_id


def ledger_states(world: World) -> list[str]:
    with world.database.session() as session:
        return list(session.scalars(select(LedgerEntry.state)))


def _server_error(world: ChaosWorld, target: str) -> None:
    world.sim.state.faults.inject("error", "POST", ENTITY[target], times=None)


def _dropped(world: ChaosWorld, target: str) -> None:
    world.sim.state.faults.inject("drop", "POST", ENTITY[target], times=None)


def _rate_limit(world: ChaosWorld, target: str) -> None:
    world.sim.state.faults.inject("rate_limit", "POST", ENTITY[target], times=None)


def _refused(world: ChaosWorld, target: str) -> None:
    """Halo refuses the record (a 4xx): as the POST arrives, what it writes is gone (the
    licence, or the invoice line's item); :func:`_mend` puts it back as it was."""
    assert isinstance(world.sim, ChaosSimulator)
    entity, key = ("SoftwareLicence", "licences") if target == "licence" else ("Item", "items")
    [record] = world.licences() if target == "licence" else [world.sim.state.record("Item", 1)]
    assert record is not None
    world.gone = (key, record)

    def remove(state: SimulatorState) -> None:
        state.delete_by_hand(entity, record["id"])

    world.sim.arm(Trap("action_before", "POST", ENTITY[target], action=remove))


def _mend(world: ChaosWorld) -> None:
    world.sim.state.faults.clear()
    if world.gone is not None:
        key, record = world.gone
        world.sim.state.seed({key: [record]})


FAULTS: dict[str, Callable[[ChaosWorld, str], None]] = {
    "500": _server_error,
    "dropped": _dropped,
    "rate_limit": _rate_limit,
    "refused": _refused,
}


@pytest.mark.parametrize(
    ("target", "fault", "database"),
    [
        *[(target, fault, "sqlite") for target in TARGETS for fault in sorted(FAULTS)],
        pytest.param("licence", "500", "postgresql", marks=pytest.mark.postgres),
    ],
)
def test_an_approval_whose_write_fails_stays_armed_for_the_next_sync(
    tmp_path: Path, request: pytest.FixtureRequest, target: str, fault: str, database: str
) -> None:
    url = request.getfixturevalue("pg_schema_url") if database == "postgresql" else None
    world, item = held_at_1200(tmp_path, target, url)
    FAULTS[fault](world, target)
    approval = approve(world, [item])
    assert approval.written == ()
    if approval.error is not None:  # the run stopped (Halo unreachable, rate limit spent)
        assert approval.error.endswith(STOPPED), approval.error
    else:  # the record failed alone
        [failed] = approval.others
        assert failed.action == "fail", failed
        assert failed.reason.endswith(STANDS), failed.reason
    assert spent_run(world, item) is None  # not used: nothing was written
    assert list_review(world.database, world.workspace_id) == []  # nobody is asked again

    # Halo is well again: the next ordinary sync writes the approved change, unasked.
    _mend(world)
    assert billed(world, target) == [12]
    world.sim.state.request_log.clear()
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    [written] = report.changes
    assert (written.action, written.held) == ("update", False), written
    assert "above the ceiling of 100 (service): approved under Review" in written.explain_text
    assert billed(world, target) == [1200]
    assert len(world.writes()) == 1
    assert spent_run(world, item) == report.run_id
    titles = [title for _, title, _ in log_entries(world)]
    assert "Approval withdrawn" not in titles

    # Used now: the same value is not written again, nor asked about.
    world.sim.state.request_log.clear()
    again = run(world.usage())
    assert [c.action for c in again.changes] == ["unchanged"]
    assert world.writes() == []
    assert list_review(world.database, world.workspace_id) == []


@pytest.mark.parametrize("target", TARGETS)
def test_an_approved_create_halo_applied_unanswered_is_never_written_twice(
    tmp_path: Path, target: str
) -> None:
    """The approved create reached Halo but its answer was lost, and Halo could not be
    searched for it: the ledger's row stays pending, the approval armed; the next sync
    finds the record by its tag and adopts it (no second POST), and that uses the
    approval."""
    world = chaos_world(tmp_path, target, 500)
    first = run(world.usage())
    assert [(c.action, c.held) for c in first.changes] == [("skip", True)]
    [item] = held_ids(world)
    entity = ENTITY[target]

    def break_reads(state: SimulatorState) -> None:
        state.faults.inject("error", "GET", entity, times=None)

    assert isinstance(world.sim, ChaosSimulator)
    trap = world.sim.arm(Trap("apply_then_drop", "POST", entity, nth=1, action=break_reads))
    approval = approve(world, [item])
    assert trap.fired.is_set()
    assert approval.written == ()
    [unknown] = approval.results
    assert unknown.action == "fail", unknown
    assert "was not sent again" in unknown.reason or "nothing was sent again" in unknown.reason
    assert billed(world, target) == [500]  # Halo has it; halosync does not know yet
    assert ledger_states(world) == ["pending"]
    assert spent_run(world, item) is None

    # A sync while Halo still cannot be read writes nothing at all.
    world.sim.state.request_log.clear()
    blind = run(world.usage())
    assert blind.status == "failed"
    assert world.writes() == []

    world.sim.state.faults.clear()
    world.sim.disarm()
    world.sim.state.request_log.clear()
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    [found] = report.changes
    # The approval's run created it: recorded so now (audit trail, results), not unchanged.
    assert found.action == "create", found
    assert f"created by run {approval.run_id}" in found.reason, found
    assert world.writes() == []
    assert billed(world, target) == [500]
    assert ledger_states(world) == ["written"]
    assert spent_run(world, item) == report.run_id
    titles = [title for _, title, _ in log_entries(world)]
    assert "Approval withdrawn" not in titles
    assert list_review(world.database, world.workspace_id) == []

    world.sim.state.request_log.clear()
    again = run(world.usage())
    assert [c.action for c in again.changes] == ["unchanged"]
    assert world.writes() == []
