"""The default ``invoice`` write path goes by batches of invoices: one list read of the
batch's invoices with their lines just before writing, one ``POST /RecurringInvoice`` with
every invoice of the batch, results mapped back by order. Each guarantee of the path is
kept per invoice: an edit made in Halo in between re-plans only that invoice, a 400 naming
one invoice's line fails that line alone, an unanswered POST is settled by reading, and
every POST answer shape is read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from halosync.domain.matching import Suggestion
from halosync.mapping.service import accept_suggestions
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig
from halosync.simulator.state import SimulatorState
from halosync.store.models import LedgerEntry
from halosync.sync.results import UsageReport
from tests.reliability.chaos import ChaosSimulator, Trap, TrapKind
from tests.sync.world import (
    CLIENT_ID,
    CLIENT_SECRET,
    World,
    accounts,
    make_world,
    seed,
    usage_document,
)

INVOICES = "/api/recurringinvoice"


def run(world: World, **options: Any) -> UsageReport:
    return asyncio.run(world.usage(**options))


def _world(
    tmp_path: Path,
    invoices: int,
    *,
    backup: tuple[int, ...] = (),
    chaos: bool = False,
    **config: Any,
) -> World:
    """``invoices`` clients, each with one recurring invoice (a consulting line halosync
    does not own); account An buys Mail x n (a line to add), and Backup when n is in
    ``backup``."""
    world = make_world(
        tmp_path, target="invoice_line", document=seed(invoices, with_invoices=True), **config
    )
    if chaos:
        applications = [ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))]
        sim = ChaosSimulator(SimulatorConfig(applications=applications, **config))
        sim.state.seed(seed(invoices, with_invoices=True))
        world = replace(world, sim=sim)
    subs = [
        {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n}
        for n in range(1, invoices + 1)
    ]
    subs += [{"account_ref": f"A{n}", "service_ref": "BKP", "quantity": 2} for n in backup]
    world.import_usage(usage_document(accounts(invoices), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    with world.database.session() as session:  # one INSERT: each client's one invoice
        outcomes = accept_suggestions(
            session,
            world.workspace_id,
            [
                Suggestion(f"A{n}", n, 100, f"Client {n} Ltd", f"Client {n} Ltd", exact=True)
                for n in range(1, invoices + 1)
            ],
        )
        assert all(outcome.saved for outcome in outcomes), outcomes
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    world.review_off()
    world.sim.state.request_log.clear()
    return world


def _chaos(world: World) -> ChaosSimulator:
    assert isinstance(world.sim, ChaosSimulator)
    return world.sim


def _invoice_requests(world: World) -> dict[str, int]:
    """RecurringInvoice requests by kind: the list reads, single GETs and POSTs."""
    counts = {"list": 0, "get": 0, "post": 0}
    for entry in world.sim.state.request_log.entries():
        path = entry.path.lower()
        if not path.startswith(INVOICES):
            continue
        if entry.method == "POST":
            counts["post"] += 1
        elif path == INVOICES:
            counts["list"] += 1
        else:
            counts["get"] += 1
    return counts


def _reread_lists(world: World) -> list[str]:
    """The queries of the list reads filtered to a batch's clients (the re-reads)."""
    return [
        entry.query
        for entry in world.sim.state.request_log.entries()
        if entry.method == "GET" and entry.path.lower() == INVOICES and "client_ids" in entry.query
    ]


def _mail_lines(world: World, invoice_id: int) -> list[dict[str, Any]]:
    return [line for line in world.invoice(invoice_id)["lines"] if line["_itemid"] == 1]


def test_a_first_sync_of_120_invoices_costs_requests_per_batch_not_per_invoice(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, 120)
    world = replace(world, settings=world.settings.model_copy(update={"sync_batch_size": 40}))
    report = run(world)
    assert report.status == "succeeded", report.error
    assert report.counts["created"] == 120
    counts = _invoice_requests(world)
    # 120 pairs in batches of 40 (a licence batch's POST size here): 3 re-reads, 3 POSTs;
    # the plan's own read is 2 pages of 100. No invoice is read or written on its own
    # (today's per-invoice path: 120 GETs and 120 POSTs).
    assert counts["get"] == 0, counts
    assert counts["post"] == 3, counts
    assert len(_reread_lists(world)) == 3
    assert counts["list"] == 2 + 3, counts
    assert [line["qty_order"] for line in _mail_lines(world, -120)] == [120]
    consulting = [ln for ln in world.invoice(-7)["lines"] if ln["_itemid"] == 3]
    assert [ln["qty_order"] for ln in consulting] == [1]
    # Nothing changed since: a repeat sync reads the list and writes nothing.
    world.sim.state.request_log.clear()
    again = run(world)
    assert again.counts["created"] == again.counts["updated"] == again.counts["failed"] == 0
    assert _invoice_requests(world) == {"list": 2, "get": 0, "post": 0}
    # A new count for every account: updates only, again by batches.
    world.import_usage(
        usage_document(
            accounts(120),
            [
                {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n + 1}
                for n in range(1, 121)
            ],
        )
    )
    world.sim.state.request_log.clear()
    updated = run(world)
    assert updated.counts["updated"] == 120
    assert _invoice_requests(world) == {"list": 5, "get": 0, "post": 3}
    assert [line["qty_order"] for line in _mail_lines(world, -120)] == [121]


def test_an_edit_between_the_plans_read_and_the_batch_reread_replans_only_that_invoice(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, 3, chaos=True)
    first = run(world)
    assert first.counts["created"] == 3
    world.import_usage(
        usage_document(
            accounts(3),
            [
                {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": 10 + n}
                for n in (1, 2, 3)
            ],
        )
    )
    ours = _mail_lines(world, -2)[0]["id"]

    def edit(state: SimulatorState) -> None:
        # Someone edits invoice -2 in Halo after the plan read it: its consulting line and
        # halosync's line both change.
        invoice = state.record("RecurringInvoice", -2)
        assert invoice is not None
        consulting = next(ln for ln in invoice["lines"] if ln["_itemid"] == 3)
        state.edit_by_hand(
            "RecurringInvoice",
            -2,
            add_lines=[{"id": consulting["id"], "qty_order": 4}, {"id": ours, "qty_order": 7}],
        )

    # The plan's read is the first list request (one page); the batch's re-read the second.
    trap = _chaos(world).arm(Trap("action_before", "GET", INVOICES, nth=2, action=edit))
    world.sim.state.request_log.clear()
    report = run(world)
    assert trap.fired.is_set()
    changes = {c.account_ref: c for c in report.changes}
    assert "changed in HaloPSA after it was read" in changes["A2"].reason
    assert changes["A2"].before == {"qty_order": 7}
    for ref in ("A1", "A3"):
        assert "changed in HaloPSA" not in changes[ref].reason, changes[ref].reason
    assert [ln["qty_order"] for ln in _mail_lines(world, -2)] == [12]
    consulting = [ln for ln in world.invoice(-2)["lines"] if ln["_itemid"] == 3]
    assert [ln["qty_order"] for ln in consulting] == [4]  # the edit survives
    assert _invoice_requests(world) == {"list": 2, "get": 0, "post": 1}


def test_a_400_on_one_invoice_of_a_batch_fails_only_the_line_halo_named(tmp_path: Path) -> None:
    world = _world(tmp_path, 3, backup=(2,))
    world.sim.state.delete_by_hand("Item", 2)  # Backup's item is gone from Halo
    report = run(world)
    assert report.status == "succeeded"
    by_pair = {(c.account_ref, c.service_ref): c for c in report.changes}
    refused = by_pair[("A2", "BKP")]
    assert (refused.action, refused.level) == ("fail", "ERROR")
    assert refused.reason == "HaloPSA refused the create: _itemid: _itemid 2 does not exist."
    for ref in ("A1", "A2", "A3"):
        assert by_pair[(ref, "MAIL")].action == "create", by_pair[(ref, "MAIL")]
        assert len(_mail_lines(world, -int(ref[1:]))) == 1
    # The refused batch, then the rest of it again as one batch (read again first).
    assert _invoice_requests(world) == {"list": 3, "get": 0, "post": 2}


@pytest.mark.parametrize("shape", ["auto", "array", "wrapped"])
def test_every_post_answer_shape_is_mapped_back_by_order(tmp_path: Path, shape: str) -> None:
    world = _world(tmp_path, 3, backup=(2,), post_response_shape=shape)
    report = run(world)
    assert report.status == "succeeded", report.error
    assert report.counts["created"] == 4
    assert _invoice_requests(world)["post"] == 1
    with world.database.session() as session:
        rows = session.scalars(select(LedgerEntry)).all()
        assert {row.state for row in rows} == {"written"}
        held = {
            line["id"]
            for n in (1, 2, 3)
            for line in world.invoice(-n)["lines"]
            if line["_itemid"] in (1, 2)
        }
        assert {row.halo_record_id for row in rows} == held
    # One invoice alone (a bare object when the shape is "auto").
    world.import_usage(
        usage_document(accounts(3), [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 9}])
    )
    world.sim.state.request_log.clear()
    single = run(world, account_ref="A1")
    assert single.counts["updated"] == 1, single
    assert [ln["qty_order"] for ln in _mail_lines(world, -1)] == [9]


def _drop_after_post(
    world: World, kind: TrapKind, then: Callable[[SimulatorState], object] | None
) -> Trap:
    return _chaos(world).arm(Trap(kind, "POST", INVOICES, nth=1, action=then))


def test_a_batch_post_applied_but_unanswered_is_settled_by_reading_not_sent_again(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, 3, backup=(2,), chaos=True)
    trap = _drop_after_post(world, "apply_then_drop", None)
    report = run(world)
    assert trap.fired.is_set()
    assert report.counts["created"] == 4, report.changes
    assert _invoice_requests(world)["post"] == 1
    for n in (1, 2, 3):
        assert len(_mail_lines(world, -n)) == 1


def test_an_unanswered_batch_post_that_cannot_be_read_is_adopted_next_run(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, 3, backup=(2,), chaos=True)

    def break_reads(state: SimulatorState) -> None:
        state.faults.inject("error", "GET", INVOICES + "*", times=None)

    trap = _drop_after_post(world, "apply_then_drop", break_reads)
    report = run(world)
    assert trap.fired.is_set()
    assert report.counts["failed"] == 4
    assert _invoice_requests(world)["post"] == 1  # never sent twice
    with world.database.session() as session:
        assert {r.state for r in session.scalars(select(LedgerEntry))} == {"pending"}
    world.sim.state.faults.clear()
    _chaos(world).disarm()
    world.sim.state.request_log.clear()
    again = run(world)
    # Recorded as the creates of the run Halo applied them for, not as unchanged.
    assert (again.counts["created"], again.counts["failed"]) == (4, 0), again.changes
    assert all(f"created by run {report.run_id}" in c.reason for c in again.changes)
    assert _invoice_requests(world)["post"] == 0
    for n in (1, 2, 3):
        assert len(_mail_lines(world, -n)) == 1
    backup = [ln for ln in world.invoice(-2)["lines"] if ln["_itemid"] == 2]
    assert len(backup) == 1
    with world.database.session() as session:
        rows = session.scalars(select(LedgerEntry)).all()
        assert {r.state for r in rows} == {"written"}


def test_an_invoice_missing_from_the_batch_reread_is_looked_up_by_id(tmp_path: Path) -> None:
    """An invoice moved to another client meanwhile is not in the batch's filtered read: it
    is looked up by id, not called gone, and planned again from what it holds now, which
    says it bills another client: nothing is written to it (domain.placement), the rest of
    the batch is."""
    world = _world(tmp_path, 3, chaos=True)

    def move(state: SimulatorState) -> None:
        elsewhere = state.create_by_hand("Client", name="Elsewhere Ltd")
        state.edit_by_hand("RecurringInvoice", -3, client_id=elsewhere["id"])

    _chaos(world).arm(Trap("action_before", "GET", INVOICES, nth=2, action=move))
    report = run(world)
    assert report.counts["created"] == 2, report.changes
    moved = next(c for c in report.changes if c.account_ref == "A3")
    assert (moved.action, moved.level) == ("skip", "WARNING"), moved
    assert "changed in HaloPSA after it was read" in moved.reason
    assert "was moved to client 'Elsewhere Ltd'" in moved.reason
    assert "deleted" not in moved.reason
    counts = _invoice_requests(world)
    assert counts["get"] == 1, counts
    assert _mail_lines(world, -3) == []
    assert len(_mail_lines(world, -2)) == 1


class _IgnoresClientFilter:
    """Halo as it would be if it ignored ``client_ids`` on the list: the simulator behind a
    proxy that drops that parameter from every request."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = bytes(scope.get("query_string", b"")).decode("latin-1")
            kept = "&".join(p for p in query.split("&") if not p.startswith("client_ids="))
            scope = {**scope, "query_string": kept.encode("latin-1")}
        await self.sim(scope, receive, send)


def test_a_halo_that_ignores_the_client_filter_costs_one_page_then_reads_by_id(
    tmp_path: Path,
) -> None:
    """Were ``client_ids`` ignored, each batch's read would be every invoice: the first
    page that shows another client's invoice ends that read, and the rest of the run reads
    the batch's invoices by id (the cost before batches), still written in one POST each."""
    world = _world(tmp_path, 6, backup=(3,))
    world = replace(world, settings=world.settings.model_copy(update={"sync_batch_size": 3}))
    world.sim = _IgnoresClientFilter(world.sim)  # type: ignore[assignment]
    report = run(world)
    assert report.counts["created"] == 7, report.changes
    counts = _invoice_requests(world)
    # Batches of at most 3 pairs: invoices [-1, -2], [-3 (two lines), -4], [-5, -6]. The
    # plan's read, then the first batch's read, which stops at its first page; the rest
    # by id.
    assert counts["post"] == 3, counts
    assert counts["list"] == 1 + 1, counts
    for n in range(1, 7):
        assert len(_mail_lines(world, -n)) == 1
