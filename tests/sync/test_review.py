"""Review before billing, end to end against the simulator: held, approved, rejected."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from halosync.domain.review import ReviewPolicy
from halosync.store.models import AuditEntry, LogEntry, ReviewItem
from halosync.sync.approve import approve_and_write
from halosync.sync.review import list_review, reject_review, set_review_policy
from tests.sync.world import World, make_world, seed, usage_document

T = TypeVar("T")
ACCOUNTS = [
    {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
    {"ref": "A2", "name": "Client 2 Ltd", "status": "active", "billed": True},
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def feed(world: World, a1_mail: int, a2_mail: int = 7) -> None:
    world.import_usage(
        usage_document(
            ACCOUNTS,
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": a1_mail},
                {"account_ref": "A2", "service_ref": "MAIL", "quantity": a2_mail},
            ],
        )
    )


def synced_world(tmp_path: Path, target: str = "licence") -> World:
    world = make_world(tmp_path, target=target, document=seed(3, with_invoices=True))
    feed(world, 12)
    assert run(world.customers()).status == "succeeded"
    invoice = target == "invoice_line"
    world.map_account("A1", 1, -1 if invoice else None)
    world.map_account("A2", 2, -2 if invoice else None)
    world.map_service("MAIL", 1)
    set_review_policy(world.database, world.workspace_id, ReviewPolicy(), actor="setup")
    first = run(world.usage())
    assert first.counts["created"] == 2, first
    world.sim.state.request_log.clear()
    return world


def a1_quantity(world: World, target: str) -> Any:
    if target == "licence":
        return next(lic["count"] for lic in world.licences() if lic["client_id"] == 1)
    return next(ln["qty_order"] for ln in world.invoice(-1)["lines"] if ln["_itemid"] == 1)


def items(world: World) -> list[ReviewItem]:
    with world.database.session() as session:
        return list(session.scalars(select(ReviewItem).order_by(ReviewItem.id)))


def audit(world: World, entity: str) -> list[tuple[str, str | None]]:
    with world.database.session() as session:
        rows = session.execute(
            select(AuditEntry.operation, AuditEntry.actor)
            .where(AuditEntry.entity == entity)
            .order_by(AuditEntry.id)
        )
        return [(op, actor) for op, actor in rows]


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_feed_error_is_held_and_written_once_approved(tmp_path: Path, target: str) -> None:
    world = synced_world(tmp_path, target)
    feed(world, 1200, a2_mail=8)  # A2's 7 -> 8 is ordinary and applies
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    held = next(c for c in report.changes if c.account_ref == "A1")
    assert (held.action, held.level, held.held) == ("skip", "WARNING", True)
    assert held.reason.startswith("held for review: the quantity changes by +9,900 %")
    assert report.counts["updated"] == 1
    assert a1_quantity(world, target) == 12
    assert len(world.writes()) == 1  # A2 only

    # A rerun asks nothing new: one item, first seen at the first hold.
    run(world.usage())
    queue = list_review(world.database, world.workspace_id)
    assert len(queue) == 1
    assert len(items(world)) == 1
    item = queue[0]
    field = "count" if target == "licence" else "qty_order"
    assert (item.account_ref, item.service_ref) == ("A1", "MAIL")
    assert item.change == f"{field} 12 → 1200"
    if target == "licence":
        assert item.halo_record.endswith("of HaloPSA client 'Client 1 Ltd' (1)")
    else:
        assert item.halo_record.startswith("line ")
        assert item.halo_record.endswith(" on recurring invoice -1")
    assert item.first_seen_at < item.last_seen_at
    with world.database.session() as session:
        entries = session.execute(select(LogEntry.level, LogEntry.title)).all()
    # Announced once, when first held; the rerun says it is still waiting.
    assert entries.count(("WARNING", "Change held for review")) == 1
    assert entries.count(("INFO", "Changes still waiting for review")) == 1

    world.sim.state.request_log.clear()
    approval = run(
        approve_and_write(
            world.database,
            world.box,
            world.settings,
            world.workspace_id,
            [item.id],
            actor="ada@example.com",
            halo_factory=world.factory,
        )
    )
    assert approval.error is None
    assert [(r.account_ref, r.action) for r in approval.results] == [("A1", "update")]
    assert len(world.writes()) == 1
    assert a1_quantity(world, target) == 1200
    assert list_review(world.database, world.workspace_id) == []
    approved = list_review(world.database, world.workspace_id, status="approved")
    assert approved[0].decided_by == "ada@example.com"
    assert audit(world, "ReviewItem") == [("hold", None), ("approve", "ada@example.com")]

    world.sim.state.request_log.clear()
    again = run(world.usage())
    assert again.counts["unchanged"] == 2
    assert world.writes() == []


def test_a_rejected_value_leaves_halo_and_is_not_asked_again(tmp_path: Path) -> None:
    world = synced_world(tmp_path)
    feed(world, 1200)
    run(world.usage())
    [item] = list_review(world.database, world.workspace_id)
    rejected = reject_review(world.database, world.workspace_id, None, actor="bob")
    assert [r.id for r in rejected] == [item.id]

    world.sim.state.request_log.clear()
    report = run(world.usage())
    skip = next(c for c in report.changes if c.account_ref == "A1")
    assert (skip.action, skip.level, skip.held) == ("skip", "INFO", False)
    assert "rejected" in skip.reason
    assert world.writes() == []
    assert a1_quantity(world, "licence") == 12
    assert list_review(world.database, world.workspace_id) == []
    assert audit(world, "ReviewItem") == [("hold", None), ("reject", "bob")]

    feed(world, 1300)  # a different value is held anew
    run(world.usage())
    [again] = list_review(world.database, world.workspace_id)
    assert again.change == "count 12 → 1300"
    assert world.writes() == []


def test_a_hold_the_vendor_corrects_before_review_leaves_the_queue(tmp_path: Path) -> None:
    world = synced_world(tmp_path)
    feed(world, 1200)
    run(world.usage())
    assert len(list_review(world.database, world.workspace_id)) == 1
    feed(world, 13)
    report = run(world.usage())
    assert report.counts["updated"] == 1
    assert list_review(world.database, world.workspace_id) == []
    assert items(world) == []
    assert audit(world, "ReviewItem") == [("hold", None), ("withdraw", None)]
    assert a1_quantity(world, "licence") == 13


def test_a_dry_run_shows_the_hold_and_queues_nothing(tmp_path: Path) -> None:
    world = synced_world(tmp_path)
    feed(world, 0)
    report = run(world.usage(dry_run=True))
    held = next(c for c in report.changes if c.account_ref == "A1")
    assert held.held
    assert "drops from 12 to 0" in held.reason
    assert items(world) == []


def test_with_the_policy_off_every_change_applies(tmp_path: Path) -> None:
    world = synced_world(tmp_path)
    off = ReviewPolicy(change_above_percent=None, drop_to_zero=False)
    set_review_policy(world.database, world.workspace_id, off, actor="ada")
    feed(world, 0)
    report = run(world.usage())
    assert report.counts["updated"] == 1
    assert a1_quantity(world, "licence") == 0
