"""A recurring invoice Halo answers without its line set (``lines`` missing or null) is
unknown, never empty: halosync writes nothing to it (a header POST replaces the line set,
so posting only its own lines would delete every other line) and plans nothing from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from halosync.halopsa.errors import InvoiceLinesUnknownError
from tests.sync.world import World, make_world, seed, usage_document

ACCOUNTS = [
    {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
    {"ref": "A2", "name": "Client 2 Ltd", "status": "active", "billed": True},
]
SUBS = [
    {"account_ref": "A1", "service_ref": "MAIL", "quantity": 10},
    {"account_ref": "A2", "service_ref": "MAIL", "quantity": 4},
]


def _world(tmp_path: Path) -> World:
    world = make_world(tmp_path, target="invoice_line", document=seed(2, with_invoices=True))
    world.import_usage(usage_document(ACCOUNTS, SUBS))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_account("A1", 1, -1)
    world.map_account("A2", 2, -2)
    world.map_service("MAIL", 1)
    world.review_off()
    return world


def _invoice_posts(world: World) -> list[str]:
    return [e.query for e in world.writes() if "recurringinvoice" in e.path.lower()]


@pytest.mark.parametrize("how", ["omit_field", "set_field"])
def test_an_invoice_read_without_lines_is_not_written(tmp_path: Path, how: str) -> None:
    world = _world(tmp_path)
    faults = world.sim.state.faults
    # Invoice -1 never shows its lines: not in the list, not in the single GET.
    faults.inject(how, "GET", "/api/recurringinvoice", times=None, field="invoices[].lines")
    faults.inject(how, "GET", "/api/recurringinvoice/-1", times=None, field="lines")
    report = asyncio.run(world.usage())
    by_account = {c.account_ref: c for c in report.changes}
    failed = by_account["A1"]
    assert failed.action == "fail"
    assert "without its lines" in failed.reason
    assert "-1" in failed.reason
    # The other invoice, read by id with its lines, is written as usual.
    assert by_account["A2"].action == "create"
    assert [ln["_itemid"] for ln in world.invoice(-1)["lines"]] == [3]
    assert sorted(ln["_itemid"] for ln in world.invoice(-2)["lines"]) == [1, 3]
    # Nor does the reconciliation say the invoice's lines are missing from HaloPSA: the
    # row says what Halo answered, and the others are reported (it stopped before).
    rows = {row.account_ref: row for row in asyncio.run(world.reconciliation())}
    assert (rows["A1"].status, rows["A1"].drift, rows["A1"].out_of_date) == ("unread", False, False)
    assert rows["A1"].unread == InvoiceLinesUnknownError(-1).message
    assert rows["A2"].status == "in_step"


def test_lines_missing_from_the_reread_before_the_post_write_nothing(tmp_path: Path) -> None:
    world = _world(tmp_path)
    asyncio.run(world.usage())
    before = world.invoice(-1)["lines"]
    world.sim.state.request_log.clear()
    world.import_usage(usage_document(ACCOUNTS, [{**SUBS[0], "quantity": 12}, SUBS[1]]))
    # The plan's list read holds the lines; the read just before the POST does not.
    world.sim.state.faults.inject(
        "set_field", "GET", "/api/recurringinvoice/-1", times=None, field="lines", value=None
    )
    report = asyncio.run(world.usage())
    failed = next(c for c in report.changes if c.account_ref == "A1")
    assert failed.action == "fail"
    assert "without its lines" in failed.reason
    assert "nothing was written" in failed.reason
    assert _invoice_posts(world) == []
    assert world.invoice(-1)["lines"] == before
