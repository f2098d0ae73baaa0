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
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from halosync.domain.review import ReviewPolicy
from halosync.domain.rules import QuantityRule
from halosync.rules.service import RuleTarget, exclude, include, set_rule
from halosync.store.models import AuditEntry, LogEntry
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.approve import approve_and_write
from halosync.sync.review import (
    ApprovalReport,
    approve_review,
    list_review,
    set_review_policy,
)
from halosync.users import create_user
from halosync.web.app import create_app
from tests.sync.world import World, make_world, seed, usage_document
from tests.web.ui.world import log_in

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


def ruled_world(
    tmp_path: Path,
    target: str,
    feed: Callable[[World], None],
    rule: QuantityRule,
    database_url: str | None = None,
) -> World:
    """Client 1 with A1's MAIL as ``feed`` imports it, ``rule`` on MAIL, the default review
    policy, and a first sync written."""
    world = make_world(
        tmp_path,
        target=target,
        document=seed(1, with_invoices=True),
        database_url=database_url,
    )
    feed(world)
    assert run(world.customers()).status == "succeeded"
    world.map_account("A1", 1, -1 if target == "invoice_line" else None)
    world.map_service("MAIL", 1)
    set_rule(world.database, world.workspace_id, RuleTarget(service_ref="MAIL"), rule, actor="t")
    set_review_policy(world.database, world.workspace_id, ReviewPolicy(), actor="setup")
    first = run(world.usage())
    assert first.counts["created"] >= 1, first
    world.sim.state.request_log.clear()
    return world


def apart_world(tmp_path: Path, target: str, database_url: str | None = None) -> World:
    """A1's MAIL sold monthly (10) and annual (5), kept apart: two records in Halo."""
    world = ruled_world(
        tmp_path,
        target,
        lambda w: feed_terms(w, 10, 5),
        QuantityRule(terms="apart"),
        database_url,
    )
    assert billed(world, target) == [5, 10]
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


# --- an approval applies once, and an exclusion withdraws what waits --------------------


def one_pair_world(tmp_path: Path, target: str) -> World:
    """A1's MAIL at 12 in Halo, a ceiling of 100 on MAIL, the default review policy."""
    world = ruled_world(tmp_path, target, lambda w: feed_one(w, 12), QuantityRule(ceiling=100))
    assert billed(world, target) == [12]
    return world


def feed_one(world: World, quantity: int) -> None:
    world.import_usage(
        usage_document(
            ACCOUNTS, [{"account_ref": "A1", "service_ref": "MAIL", "quantity": quantity}]
        )
    )


PAIR = RuleTarget("A1", "MAIL")


def exclusion(world: World, excluded: bool, scope: RuleTarget = PAIR) -> None:
    """Exclude (or include again) A1 × MAIL, or the scope given."""
    if excluded:
        exclude(world.database, world.workspace_id, scope, "moved to another MSP", actor="ada")
    else:
        include(world.database, world.workspace_id, scope, actor="ada")


def decide(world: World, ids: list[int]) -> None:
    """Approve without the write (as when another sync is running: the approval stands)."""
    approve_review(world.database, world.workspace_id, ids, actor="ada@example.com")


def review_audit(world: World) -> list[tuple[str, Any]]:
    """The review steps' audit entries: (operation, after), after's ``term`` from before."""
    with world.database.session() as session:
        rows = session.execute(
            select(AuditEntry.operation, AuditEntry.before, AuditEntry.after)
            .where(AuditEntry.entity == "ReviewItem")
            .order_by(AuditEntry.id)
        )
        return [
            (operation, {**(after or {}), "term": (before or {}).get("term")})
            for operation, before, after in rows
        ]


def held_ids(world: World) -> list[int]:
    return [item.id for item in list_review(world.database, world.workspace_id)]


@pytest.mark.parametrize("target", TARGETS)
def test_an_exclusion_withdraws_holds_and_approvals_and_inclusion_screens_again(
    tmp_path: Path, target: str
) -> None:
    world = one_pair_world(tmp_path, target)
    feed_one(world, 1200)
    held = next(c for c in run(world.usage()).changes if c.account_ref == "A1")
    assert held.held
    assert "above the ceiling of 100 (service): held for review" in held.explain_text

    # Excluded while waiting: the hold leaves the queue, and the audit says why.
    exclusion(world, True)
    report = run(world.usage())
    assert [(c.action, c.held) for c in report.changes] == [("skip", False)]
    assert held_ids(world) == []
    operation, after = review_audit(world)[-1]
    assert operation == "withdraw"
    assert "excluded from billing: moved to another MSP (account × service)" in after["why"]

    # Included again: screened again, held again.
    exclusion(world, False)
    again = run(world.usage())
    assert [c.held for c in again.changes] == [True]
    [item] = held_ids(world)

    # Approved, then the account excluded before a sync wrote it: the approval goes too.
    decide(world, [item])
    exclusion(world, True, RuleTarget(account_ref="A1"))
    run(world.usage())
    assert list_review(world.database, world.workspace_id, status="approved") == []
    operation, after = review_audit(world)[-1]
    assert operation == "withdraw"
    assert after["status"] == "withdrawn"
    assert "excluded from billing: moved to another MSP (account)" in after["why"]
    assert world.writes() == []

    # Included again: the old approval is not armed; the change waits for review anew.
    exclusion(world, False, RuleTarget(account_ref="A1"))
    world.sim.state.request_log.clear()
    screened = run(world.usage())
    assert [(c.action, c.held) for c in screened.changes] == [("skip", True)]
    assert world.writes() == []
    assert billed(world, target) == [12]

    # Approved now, it is written, and its chain says it was approved, not held.
    approval = approve(world, held_ids(world))
    [written] = approval.written
    assert written.action == "update"
    assert billed(world, target) == [1200]
    assert "held for review" not in written.explain_text
    assert "above the ceiling of 100 (service): approved under Review" in written.explain_text


@pytest.mark.parametrize("target", TARGETS)
def test_an_approval_applies_to_the_next_sync_that_plans_it_only(
    tmp_path: Path, target: str
) -> None:
    world = one_pair_world(tmp_path, target)
    feed_one(world, 60)  # 12 -> 60: held by the ± 50 % rule
    run(world.usage())
    decide(world, held_ids(world))
    feed_one(world, 70)  # the vendor changed again before a sync wrote the approved 60
    report = run(world.usage())
    assert [c.held for c in report.changes] == [True]  # 70 is held: never approved
    assert list_review(world.database, world.workspace_id, status="approved") == []
    feed_one(world, 60)  # back to the value once approved: asked again, not written
    again = run(world.usage())
    assert [c.held for c in again.changes] == [True]
    assert world.writes() == []

    # Approved and written; a later identical change (after a drop in between) asks again.
    approve(world, held_ids(world))
    assert billed(world, target) == [60]
    feed_one(world, 12)
    run(world.usage())
    approve(world, held_ids(world))
    assert billed(world, target) == [12]
    world.sim.state.request_log.clear()
    feed_one(world, 60)
    last = run(world.usage())
    assert [c.held for c in last.changes] == [True]
    assert world.writes() == []
    [item] = list_review(world.database, world.workspace_id)
    assert item.change.endswith("12 → 60")


@pytest.mark.parametrize(
    ("target", "database"),
    [
        ("licence", "sqlite"),
        ("invoice_line", "sqlite"),
        pytest.param("licence", "postgresql", marks=pytest.mark.postgres),
    ],
)
def test_terms_kept_apart_an_exclusion_withdraws_each_terms_approval(
    tmp_path: Path, request: pytest.FixtureRequest, target: str, database: str
) -> None:
    url = request.getfixturevalue("pg_schema_url") if database == "postgresql" else None
    world = apart_world(tmp_path, target, url)
    feed_terms(world, 1000, 500)
    run(world.usage())
    decide(world, held_ids(world))
    exclusion(world, True)
    run(world.usage())
    assert list_review(world.database, world.workspace_id, status=None) == []
    withdrawn = [after for operation, after in review_audit(world) if operation == "withdraw"]
    assert sorted(after["term"] for after in withdrawn) == ["Annual", "Monthly"]
    assert all("excluded from billing: moved to another MSP" in a["why"] for a in withdrawn)
    exclusion(world, False)
    report = run(world.usage())
    assert sorted((c.term, c.held) for c in report.changes) == [
        ("Annual", True),
        ("Monthly", True),
    ]
    assert world.writes() == []
    assert billed(world, target) == [5, 10]


def test_the_review_page_names_each_held_changes_term(tmp_path: Path) -> None:
    """The web UI's queue shows the term of a record kept apart."""
    world = apart_world(tmp_path, "licence")
    feed_terms(world, 1000, 500)
    run(world.usage())
    with world.database.session() as session:
        workspace = WorkspaceRepository(session).get(world.workspace_id)
        create_user(
            session, email="ada@example.com", name="Ada", password="x" * 16, workspace=workspace
        )
    client = TestClient(create_app(world.settings, database=world.database))
    log_in(client, "ada@example.com", "x" * 16)
    page = client.get(f"/ui/w/{world.workspace_id}/review")
    assert page.status_code == 200
    assert page.text.count("term Monthly") == 1
    assert page.text.count("term Annual") == 1
    assert 'aria-label="Choose Client 1 Ltd / Mail Protection (Annual)"' in page.text


# --- a count above the ceiling that HaloPSA already holds is not held again -------------


def priced_terms(world: World, monthly: int, annual: int) -> None:
    """``feed_terms`` with the vendor's prices on both terms."""
    prices = {"customer_price": "3.00", "cost_price": "2.00"}
    world.import_usage(
        usage_document(
            ACCOUNTS,
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": monthly, **prices},
                {
                    "account_ref": "A1",
                    "service_ref": "MAIL",
                    "quantity": annual,
                    "term": "Annual",
                    "start_date": "2024-03-01",
                    **prices,
                },
            ],
        )
    )


@pytest.mark.parametrize("target", TARGETS)
def test_an_approved_count_above_the_ceiling_is_not_said_held_and_its_price_is_written(
    tmp_path: Path, target: str
) -> None:
    world = ruled_world(
        tmp_path,
        target,
        lambda w: feed_terms(w, 10, 2),
        QuantityRule(terms="apart", ceiling=3),
    )
    assert billed(world, target) == [2]  # monthly's 10 is above the ceiling: held
    approve(world, held_ids(world))
    assert billed(world, target) == [2, 10]

    def monthly() -> Any:
        report = run(world.usage())
        return next(c for c in report.changes if c.term == "Monthly")

    # A plain repeat: the approved count stands, and the chain does not say it is held.
    repeat = monthly()
    assert (repeat.action, repeat.held) == ("unchanged", False)
    assert "held for review" not in repeat.explain_text
    assert "above the ceiling of 3 (service): HaloPSA already holds it" in repeat.explain_text

    # Prices now follow the vendor: monthly's price-only update is written, not held.
    world.set(price_mode="totals")
    priced_terms(world, 10, 2)
    priced = monthly()
    assert (priced.action, priced.held) == ("update", False)
    assert "held for review" not in priced.explain_text
    assert "above the ceiling of 3 (service): HaloPSA already holds it" in priced.explain_text
    assert held_ids(world) == []
    assert billed(world, target) == [2, 10]
