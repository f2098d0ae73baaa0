"""Review items know their term, and an approval applies once: end to end against the
simulator on both targets.

With the terms rule ``apart`` one account × service bills a record per term, so a held
change belongs to the pair *and* its term (its identity, as the ledger and the marker
keep it): each term's hold is listed, approved, withdrawn and counted on its own. An
approval applies to the exact change approved in the next sync that plans it, and an
exclusion withdraws what waits for review in its scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from halosync.domain.review import ReviewPolicy
from halosync.store.models import LogEntry
from halosync.sync.approve import approve_and_write
from halosync.sync.review import ApprovalReport, list_review, set_review_policy
from tests.sync.world import World, make_world, seed, usage_document

T = TypeVar("T")
TARGETS = ["licence", "invoice_line"]
ACCOUNTS = [{"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True}]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def feed_terms(world: World, monthly: int, annual: int) -> None:
    world.import_usage(
        usage_document(
            ACCOUNTS,
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": monthly},
                {
                    "account_ref": "A1",
                    "service_ref": "MAIL",
                    "quantity": annual,
                    "term": "Annual",
                    "start_date": "2024-03-01",
                },
            ],
        )
    )


def apart_world(tmp_path: Path, target: str) -> World:
    """A1's MAIL sold monthly (10) and annual (5), kept apart: two records in Halo."""
    from halosync.domain.rules import QuantityRule
    from halosync.rules.service import RuleTarget, set_rule

    world = make_world(tmp_path, target=target, document=seed(1, with_invoices=True))
    feed_terms(world, 10, 5)
    assert run(world.customers()).status == "succeeded"
    world.map_account("A1", 1, -1 if target == "invoice_line" else None)
    world.map_service("MAIL", 1)
    set_rule(
        world.database,
        world.workspace_id,
        RuleTarget(service_ref="MAIL"),
        QuantityRule(terms="apart"),
        actor="setup",
    )
    set_review_policy(world.database, world.workspace_id, ReviewPolicy(), actor="setup")
    first = run(world.usage())
    assert first.counts["created"] == 2, first
    assert billed(world, target) == [5, 10]
    world.sim.state.request_log.clear()
    return world


def billed(world: World, target: str) -> list[Any]:
    """What Halo holds for client 1's Mail Protection: each record's quantity."""
    if target == "licence":
        return sorted(lic["count"] for lic in world.licences() if lic["client_id"] == 1)
    lines = world.invoice(-1)["lines"]
    return sorted(line["qty_order"] for line in lines if line.get("_itemid") == 1)


def approve(world: World, ids: list[int] | None) -> ApprovalReport:
    return run(
        approve_and_write(
            world.database,
            world.box,
            world.settings,
            world.workspace_id,
            ids,
            actor="ada@example.com",
            halo_factory=world.factory,
        )
    )


def log_entries(world: World) -> list[tuple[str, str, str]]:
    with world.database.session() as session:
        rows = session.execute(
            select(LogEntry.level, LogEntry.title, LogEntry.details).order_by(LogEntry.id)
        )
        return [(level, title, details or "") for level, title, details in rows]


@pytest.mark.parametrize("target", TARGETS)
def test_each_term_is_held_listed_and_approved_on_its_own(tmp_path: Path, target: str) -> None:
    world = apart_world(tmp_path, target)
    feed_terms(world, 1000, 6)  # monthly's feed error is held; annual's 5 -> 6 is ordinary
    report = run(world.usage())
    held = [c for c in report.changes if c.held]
    assert [(c.term, c.action) for c in held] == [("Monthly", "skip")]
    assert billed(world, target) == [6, 10]

    feed_terms(world, 1000, 500)  # now annual's is a feed error too: held, first this run
    run(world.usage())
    queue = list_review(world.database, world.workspace_id)
    assert sorted(item.term for item in queue) == ["Annual", "Monthly"]
    assert all(item.to_dict()["term"] == item.term for item in queue)
    entries = log_entries(world)
    # Each term's hold is announced once, when first held; monthly's waits in the second.
    announced = [d for level, title, d in entries if title == "Change held for review"]
    assert len(announced) == 2, announced
    assert "(Monthly)" in announced[0]
    assert "(Annual)" in announced[1]
    waiting = [d for _, title, d in entries if title == "Changes still waiting for review"]
    assert waiting == [
        "1 change(s) held earlier are still waiting for review and were not written: "
        "A1 / MAIL (Monthly)."
    ]

    feed_terms(world, 1000, 7)  # annual corrected by the vendor, monthly still held
    monthly = next(item for item in queue if item.term == "Monthly")
    world.sim.state.request_log.clear()
    approval = approve(world, [monthly.id])
    # The approval writes what was approved, monthly's 1000, and nothing of annual.
    assert [(r.term, r.action) for r in approval.results] == [("Monthly", "update")]
    assert len(world.writes()) == 1
    assert billed(world, target) == [6, 1000]
    # Annual's hold is not withdrawn by monthly's approval: the approval run did not plan
    # it; the next sync (which plans annual's 7) does.
    pending = list_review(world.database, world.workspace_id)
    assert [item.term for item in pending] == ["Annual"]
    run(world.usage())
    assert list_review(world.database, world.workspace_id) == []
    assert billed(world, target) == [7, 1000]
    withdrawn = [d for _, title, d in log_entries(world) if title == "Held change withdrawn"]
    assert len(withdrawn) == 1, withdrawn
    assert "service MAIL (Annual)" in withdrawn[0]
