"""Usage push to the invoice_line target, and the engine's recovery and run rules."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from halosync.store.models import AuditEntry, LedgerEntry, LogEntry, RunResult, SyncRun
from halosync.sync.activity import list_log_entries
from halosync.sync.errors import SyncInProgressError
from halosync.sync.runs import start_run
from tests.sync.world import World, make_world, seed, usage_document

T = TypeVar("T")
ACCOUNTS = [
    {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
    {"ref": "A2", "name": "Client 2 Ltd", "status": "active", "billed": True},
]
SUBS = [
    {
        "account_ref": "A1",
        "service_ref": "MAIL",
        "quantity": 10,
        "customer_price": "30.00",
        "cost_price": "10.00",
    },
    {"account_ref": "A2", "service_ref": "MAIL", "quantity": 0, "customer_price": "30.00"},
    {"account_ref": "A2", "service_ref": "BKP", "quantity": 3},
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _world(tmp_path: Path, target: str, *, with_invoices: bool = True) -> World:
    world = make_world(tmp_path, target=target, document=seed(3, with_invoices=with_invoices))
    world.import_usage(usage_document(ACCOUNTS, SUBS))
    assert run(world.customers()).status == "succeeded"
    world.map_account("A1", 1, -1 if with_invoices else None)
    world.map_account("A2", 2, -2 if with_invoices else None)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    return world


def test_lines_added_with_unit_prices_and_foreign_lines_left_alone(tmp_path: Path) -> None:
    world = _world(tmp_path, "invoice_line")
    world.set(price_mode="totals")
    report = run(world.usage())
    assert report.status == "succeeded"
    zero = next(c for c in report.changes if (c.account_ref, c.service_ref) == ("A2", "MAIL"))
    assert zero.action == "skip"
    assert zero.level == "WARNING"
    lines = {line["_itemid"]: line for line in world.invoice(-1)["lines"]}
    assert lines[1]["qty_order"] == 10
    assert lines[1]["unit_price"] == 3
    assert lines[1]["unit_cost"] == 1
    assert lines[3]["qty_order"] == 1
    with world.database.session() as session:
        warnings = session.scalars(select(LogEntry).where(LogEntry.level == "WARNING")).all()
        assert any("quantity is 0" in (w.details or "") for w in warnings)
        audits = session.scalars(select(AuditEntry)).all()
        assert {a.operation for a in audits} == {"create"}
        assert len(audits) == 2
    # Newest first, the run's summary heads its warnings.
    newest = list_log_entries(world.database, world.workspace_id, page_size=3).entries
    assert newest[0].title == "Subscriptions sync completed"
    assert newest[1].level == "WARNING"


def test_foreign_line_of_the_same_item_is_taken_over_unless_only_own_lines(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, "invoice_line")
    world.set(adopt_existing_lines=False)
    world.review_off()  # taking the line over moves it from 2 to 10, which review would hold
    world.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=[{"_itemid": 1, "qty_order": 2}])
    report = run(world.usage())
    skipped = next(c for c in report.changes if c.account_ref == "A1")
    assert skipped.action == "skip"
    assert "did not add" in skipped.reason
    world.set(adopt_existing_lines=True)
    report = run(world.usage())
    taken = next(c for c in report.changes if c.account_ref == "A1")
    assert taken.action == "update"
    assert "will take over line" in taken.reason
    item_lines = [ln for ln in world.invoice(-1)["lines"] if ln["_itemid"] == 1]
    assert [ln["qty_order"] for ln in item_lines] == [10]


def test_line_deleted_by_hand_is_added_again_and_hand_edit_is_drift(tmp_path: Path) -> None:

    world = _world(tmp_path, "invoice_line")
    run(world.usage())
    invoice = world.invoice(-2)
    ours = next(ln for ln in invoice["lines"] if ln["_itemid"] == 2)
    world.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=[])
    kept = [ln for ln in invoice["lines"] if ln["id"] != ours["id"]]
    world.sim.state.edit_by_hand("RecurringInvoice", -2, lines=kept)
    mail = next(ln for ln in world.invoice(-1)["lines"] if ln["_itemid"] == 1)
    world.sim.state.edit_by_hand(
        "RecurringInvoice", -1, add_lines=[{"id": mail["id"], "qty_order": 15}]
    )
    rows = run(world.reconciliation())
    drift = {(r.account_ref, r.service_ref): r for r in rows if r.drift}
    assert set(drift) == {("A1", "MAIL"), ("A2", "BKP")}
    assert drift[("A1", "MAIL")].halo_quantity == 15
    assert drift[("A2", "BKP")].halo_quantity is None
    report = run(world.usage())
    readded = next(c for c in report.changes if c.service_ref == "BKP")
    assert readded.action == "create"
    assert readded.level == "WARNING"
    assert next(c for c in report.changes if c.account_ref == "A1").action == "update"


def test_interrupted_create_is_adopted_by_its_marker(tmp_path: Path) -> None:
    world = _world(tmp_path, "licence", with_invoices=False)
    run(world.usage())
    assert len(world.licences()) == 3
    with world.database.session() as session:
        # As if the process died after Halo created the records but before the commit.
        session.execute(update(LedgerEntry).values(state="pending", halo_record_id=None))
    world.sim.state.request_log.clear()
    report = run(world.usage())
    assert report.counts["created"] == 0
    assert all("interrupted" in c.reason for c in report.changes if c.action == "unchanged")
    assert len(world.licences()) == 3
    with world.database.session() as session:
        rows = session.scalars(select(LedgerEntry)).all()
        assert {row.state for row in rows} == {"written"}
        assert {row.halo_record_id for row in rows} == {lic["id"] for lic in world.licences()}


def test_one_sync_per_workspace_and_dead_runs_are_reaped(tmp_path: Path) -> None:
    world = _world(tmp_path, "licence", with_invoices=False)
    run_id = start_run(world.database, world.workspace_id, kind="usage", trigger="manual")
    with pytest.raises(SyncInProgressError, match="Sync in progress"):
        run(world.usage())
    with pytest.raises(SyncInProgressError):
        run(world.usage(account_ref="A1"))
    dry = run(world.usage(dry_run=True))
    assert dry.status == "succeeded"
    with world.database.session() as session:
        # A run whose owner vanished on this host (pid 2**22 + 7 is never alive here).
        stale = session.get(SyncRun, run_id)
        assert stale is not None
        stale.owner_host, stale.owner_pid = __import__("socket").gethostname(), 2**22 + 7
    report = run(world.usage())
    assert report.status == "succeeded"
    with world.database.session() as session:
        stale = session.get(SyncRun, run_id)
        assert stale is not None
        assert stale.status == "failed"
        results = session.scalars(select(RunResult).where(RunResult.run_id == report.run_id))
        assert len(results.all()) == len(report.changes)


def test_bad_credentials_halt_the_run(tmp_path: Path) -> None:
    from halosync.store.connections import ConnectionDetails, HaloConnectionRepository

    world = _world(tmp_path, "licence", with_invoices=False)
    with world.database.session() as session:
        HaloConnectionRepository(session, world.workspace_id, world.box).save(
            ConnectionDetails("http://halo.test", None, None, "wrong-id", "wrong-secret-value")
        )
    report = run(world.usage())
    assert report.status == "halted"
    assert report.error
    assert "wrong-secret-value" not in report.error
    with world.database.session() as session:
        titles = [e.title for e in session.scalars(select(LogEntry))]
        assert "Subscriptions sync halted" in titles


def test_customers_pull_marks_gone_and_inactive_clients(tmp_path: Path) -> None:
    from halosync.store.models import AccountMapping, HaloClient

    world = _world(tmp_path, "invoice_line")
    world.sim.state.delete_by_hand("Client", 3)
    world.sim.state.edit_by_hand("Client", 2, inactive=True)
    world.sim.state.edit_by_hand("Client", 1, name="Client One Renamed")
    report = run(world.customers())
    assert report.status == "succeeded"
    assert report.details["clients"]["gone"] == 1
    with world.database.session() as session:
        clients = {c.halo_id: c for c in session.scalars(select(HaloClient))}
        assert clients[3].gone
        assert clients[2].inactive
        assert clients[1].name == "Client One Renamed"
        assert len(session.scalars(select(AccountMapping)).all()) == 2
        workspace_logs = [e.title for e in session.scalars(select(LogEntry))]
        assert "Mapped client needs attention" in workspace_logs
    usage = run(world.usage())
    a2 = [c for c in usage.changes if c.account_ref == "A2"]
    assert all(c.action == "skip" for c in a2)
    assert any("inactive" in c.reason for c in a2)
