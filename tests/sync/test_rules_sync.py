"""A usage sync plans with the quantity rules in force on its day: the run, its dry run and
an approval's write alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from halosync.domain.rules import QuantityRule
from halosync.rules.service import RuleTarget, set_rule, today
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.approve import approve_and_write
from halosync.sync.gather import load_inputs
from halosync.sync.review import list_review
from tests.sync.world import make_world, seed, usage_document

MAIL = RuleTarget(service_ref="MAIL")


def test_the_rules_of_the_runs_day_are_loaded(tmp_path: Path) -> None:
    world = make_world(tmp_path, document=seed(1))
    world.ready_one_account(5)
    set_rule(world.database, world.workspace_id, MAIL, QuantityRule(free=1), actor="t")
    later = today() + timedelta(days=2)
    set_rule(
        world.database, world.workspace_id, MAIL, QuantityRule(free=4), valid_from=later, actor="t"
    )
    with world.database.session() as session:
        ws = WorkspaceRepository(session).get(world.workspace_id)
        assert load_inputs(session, ws, None).rules.services["MAIL"].free == 1
        assert load_inputs(session, ws, None, on_date=later).rules.services["MAIL"].free == 4


def test_a_quantity_above_the_ceiling_waits_and_approval_writes_the_ruled_count(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path, document=seed(1))
    world.ready_one_account(7)
    world.review_off()
    set_rule(
        world.database,
        world.workspace_id,
        MAIL,
        QuantityRule(ceiling=5, multiple=2, rounding="up"),
        actor="t",
    )
    dry = asyncio.run(world.usage(dry_run=True))
    assert [(c.action, c.held) for c in dry.changes] == [("skip", True)]
    report = asyncio.run(world.usage())
    assert [(c.action, c.held) for c in report.changes] == [("skip", True)]
    assert world.licences() == []
    (item,) = list_review(world.database, world.workspace_id)
    assert "above the ceiling of 5 (service)" in item.why
    approval = asyncio.run(
        approve_and_write(
            world.database,
            world.box,
            world.settings,
            world.workspace_id,
            [item.id],
            actor="reviewer",
            halo_factory=world.factory,
        )
    )
    assert len(approval.written) == 1, approval
    assert [lic["count"] for lic in world.licences()] == [8]


def test_the_chain_reaches_the_report_and_the_runs_results(tmp_path: Path) -> None:
    """The rules' explain travels with the change: the report (and so ``--json``) and the
    results stored with the run say how the count written came about."""
    from halosync.sync.runs import run_results

    world = make_world(tmp_path, document=seed(1))
    world.ready_one_account(23)
    world.review_off()
    set_rule(world.database, world.workspace_id, MAIL, QuantityRule(free=3), actor="t")
    set_rule(world.database, world.workspace_id, RuleTarget(), QuantityRule(minimum=25), actor="t")
    chain = "vendor 23 \u2192 minus 3 free (service) \u2192 minimum 25 (workspace) \u2192 25"
    report = asyncio.run(world.usage())
    (change,) = report.changes
    assert (change.action, change.explain_text) == ("create", chain)
    assert change.to_dict()["explain"]["text"] == chain
    assert [lic["count"] for lic in world.licences()] == [25]
    with world.database.session() as session:
        (stored,) = run_results(session, world.workspace_id, report.run_id).items
    assert stored.explain is not None
    assert stored.explain["text"] == chain
    assert [step["rule"] for step in stored.explain["steps"]] == ["vendor", "free", "minimum"]


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_pair_refused_for_another_reason_is_not_said_held(tmp_path: Path, target: str) -> None:
    """Above the ceiling but refused before any write (client inactive; client gone or
    recurring invoice gone): nothing waits in the Review queue, so neither the run's chain
    nor the reconciliation says "held for review"; both say it is not held and why, and
    the reconciliation counts the pair as skipped with the sync's reason."""
    world = make_world(tmp_path, target=target, document=seed(3, with_invoices=True))
    accounts = [
        {"ref": f"A{n}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
        for n in (1, 2, 3)
    ]
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": 60} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts, subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    for n in (1, 2, 3):
        world.map_account(f"A{n}", n)
    world.map_service("MAIL", 1)
    world.sim.state.edit_by_hand("Client", 2, inactive=True)
    if target == "licence":
        world.sim.state.delete_by_hand("Client", 3)
    else:
        world.sim.state.delete_by_hand("RecurringInvoice", -3)
    assert asyncio.run(world.customers()).status == "succeeded"
    set_rule(world.database, world.workspace_id, MAIL, QuantityRule(ceiling=50), actor="t")

    held = "vendor 60 \u2192 above the ceiling of 50 (service): held for review \u2192 60"
    not_held = (
        "vendor 60 \u2192 above the ceiling of 50 (service): not held for review, since "
        "nothing is written for this pair until its reason is fixed \u2192 60"
    )
    for dry_run in (True, False):
        report = asyncio.run(world.usage(dry_run=dry_run))
        changes = {c.account_ref: c for c in report.changes}
        assert [(c.action, c.held) for c in changes.values()] == [
            ("skip", True),
            ("skip", False),
            ("skip", False),
        ]
        assert changes["A1"].explain_text == held
        assert changes["A2"].explain_text == not_held
        assert changes["A3"].explain_text == not_held
    assert [item.account_ref for item in list_review(world.database, world.workspace_id)] == ["A1"]
    rows = {row.account_ref: row for row in asyncio.run(world.reconciliation())}
    assert (rows["A1"].status, rows["A1"].explain) == ("out_of_date", held)
    for ref in ("A2", "A3"):
        assert (rows[ref].status, rows[ref].explain, rows[ref].why) == ("skipped", not_held, "")
        assert rows[ref].skipped == changes[ref].reason
