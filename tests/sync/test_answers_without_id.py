"""Halo's answers that carry a record without its id: never a reason to stop the run.

A record without an id can be neither read nor written again, so it is never the one
halosync looks for; a create Halo accepted but answered without the record's id is looked
for by its tag (as an unanswered one is) and never sent again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from halosync.domain.models import LineWritePath
from halosync.sync.results import ChangeResult, UsageReport
from tests.sync.world import World, accounts, make_world, seed, usage_document


def _world(tmp_path: Path) -> World:
    world = make_world(tmp_path, document=seed(3))
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": 4 + n} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts(3), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(3)
    return world


def test_a_create_answered_without_id_is_found_by_its_tag_and_a_row_without_id_skipped(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path)
    faults = world.sim.state.faults
    # Halo creates the three licences but answers them without their ids; while they are
    # looked for, client 2's list shows its licence without an id.
    faults.inject("omit_field", "POST", "/api/softwarelicence", times=1, field="id")
    faults.inject(
        "set_field",
        "GET",
        "/api/softwarelicence",
        times=None,
        query={"client_id": "2"},
        field="licences[].id",
        value=None,
    )
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    by_account = {c.account_ref: c for c in report.changes}
    ids = {lic["client_id"]: lic["id"] for lic in world.licences()}
    assert [(by_account[a].action, by_account[a].halo_id) for a in ("A1", "A3")] == [
        ("create", ids[1]),
        ("create", ids[3]),
    ]
    a2 = by_account["A2"]
    assert (a2.action, a2.level) == ("fail", "ERROR")
    assert a2.reason == (
        "HaloPSA accepted the create but answered without the record's id, and it was not "
        "found by its tag; it was not sent again. The next sync looks for it by its tag "
        "before creating anything"
    )
    assert len(world.licences()) == 3  # nothing sent twice
    faults.clear()
    again = asyncio.run(world.usage())
    assert again.status == "succeeded", again.error
    assert {c.account_ref: (c.action, c.halo_id) for c in again.changes}["A2"][1] == ids[2]
    assert len(world.licences()) == 3
    assert again.counts["failed"] == 0


def test_rows_without_id_in_the_read_and_an_update_answered_without_id(tmp_path: Path) -> None:
    world = _world(tmp_path)
    assert asyncio.run(world.usage()).counts["created"] == 3
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": 5 + n} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts(3), [*subs[:2], {**subs[2], "quantity": 7}]))
    faults = world.sim.state.faults
    # The licence list shows every row without its id (each is then read by id), and the
    # two updates are answered without theirs.
    faults.inject("set_field", "GET", "/api/softwarelicence", times=1, field="licences[].id")
    faults.inject("omit_field", "POST", "/api/softwarelicence", times=1, field="id")
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    for client, change in enumerate(report.changes[:2], start=1):
        licence = next(lic for lic in world.licences() if lic["client_id"] == client)
        assert (change.account_ref, change.action, licence["count"]) == (
            f"A{client}",
            "fail",
            5 + client,
        )
        assert change.reason == (
            f"HaloPSA accepted the update of record {licence['id']} but answered without its "
            "id, so what it holds now is not known; the next sync reads it again"
        )
    assert report.counts["unchanged"] == 1
    posts = len(world.writes())
    again = asyncio.run(world.usage())
    # Halo holds what the failed updates sent: recorded now as that run's updates.
    assert (again.counts["updated"], again.counts["unchanged"], again.counts["failed"]) == (
        2,
        1,
        0,
    )
    assert all(f"updated by run {report.run_id}" in c.reason for c in again.changes[:2])
    assert len(world.writes()) == posts  # nothing sent again


def _synced_then_recounted(world: World, step: int) -> World:
    """Every pair written once, then each account's count raised to ``step`` + n."""
    assert asyncio.run(world.usage()).counts["created"] == 3
    subs = [
        {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": step + n} for n in (1, 2, 3)
    ]
    world.import_usage(usage_document(accounts(3), subs))
    return world


def _only_a2_failed(report: UsageReport) -> ChangeResult:
    """A1 and A3 were updated and the run went on; A2's failure, to read its reason."""
    assert report.status == "succeeded", report.error
    by_account = {c.account_ref: c for c in report.changes}
    assert (by_account["A1"].action, by_account["A3"].action) == ("update", "update")
    a2 = by_account["A2"]
    assert (a2.action, a2.level) == ("fail", "ERROR")
    return a2


def test_a_record_read_by_id_without_its_id_fails_its_pair_alone(tmp_path: Path) -> None:
    """A licence the ledger names that the list did not show is read by id; answered there
    without its id, what it holds is unknown: that pair fails (never created again, which
    would bill twice), the others are written, and the next sync reads it again."""
    world = _synced_then_recounted(_world(tmp_path), 5)
    licence = next(lic for lic in world.licences() if lic["client_id"] == 2)
    faults = world.sim.state.faults
    # The list shows no row with its id, so each is read by id; licence 2's answer lacks it.
    faults.inject("set_field", "GET", "/api/softwarelicence", times=1, field="licences[].id")
    faults.inject(
        "omit_field", "GET", f"/api/softwarelicence/{licence['id']}", times=None, field="id"
    )
    a2 = _only_a2_failed(asyncio.run(world.usage()))
    assert a2.reason.startswith(
        f"Halo answered GET /api/SoftwareLicence/{licence['id']} with an object without an id"
    ), a2.reason
    assert "nothing was written for this pair; the next sync reads it again" in a2.reason
    assert len(world.licences()) == 3  # not created again
    # The reconciliation marks that row, and reports the others (it stopped before).
    faults.inject("set_field", "GET", "/api/softwarelicence", times=1, field="licences[].id")
    rows = {row.account_ref: row for row in asyncio.run(world.reconciliation())}
    assert (rows["A2"].status, rows["A2"].drift, rows["A2"].out_of_date) == ("unread", False, False)
    assert rows["A2"].unread == a2.reason.split("; nothing was written")[0] + "."
    assert {rows["A1"].status, rows["A3"].status} == {"in_step"}
    faults.clear()
    again = asyncio.run(world.usage())
    assert {c.account_ref: c.action for c in again.changes}["A2"] == "update"
    assert (again.counts["failed"], len(world.licences())) == (0, 3)


def _invoice_world(tmp_path: Path, path: LineWritePath) -> World:
    world = make_world(tmp_path, target="invoice_line", document=seed(3, with_invoices=True))
    world.connect(world.base_url, line_write_path=path)
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": 4 + n} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts(3), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(3, invoices=True)
    world.review_off()
    return world


def _mail(world: World, invoice_id: int) -> list[float]:
    return [
        float(ln["qty_order"]) for ln in world.invoice(invoice_id)["lines"] if ln["_itemid"] == 1
    ]


@pytest.mark.parametrize("path", ["invoice", "update_lines"])
def test_an_invoice_read_by_id_without_its_id_fails_its_pairs_alone(
    tmp_path: Path, path: LineWritePath
) -> None:
    """A recurring invoice the list did not show is read by id; answered there without its
    id, what it holds is unknown: the pairs on it fail in Halo's words (not 'without its
    lines'), nothing is written to it nor created again, the other invoices are written,
    and the next sync writes it. The whole run failed before."""
    world = _synced_then_recounted(_invoice_world(tmp_path, path), 8)
    faults = world.sim.state.faults
    # The list shows no invoice with its id, so each is read by id; invoice -2's lacks it.
    faults.inject("set_field", "GET", "/api/recurringinvoice", times=1, field="invoices[].id")
    faults.inject("omit_field", "GET", "/api/recurringinvoice/-2", times=None, field="id")
    a2 = _only_a2_failed(asyncio.run(world.usage()))
    assert a2.reason.startswith(
        "Halo answered GET /api/RecurringInvoice/-2 with an object without an id"
    ), a2.reason
    assert "without its lines" not in a2.reason
    assert "nothing was written for this pair; the next sync reads it again" in a2.reason
    assert (_mail(world, -1), _mail(world, -2), _mail(world, -3)) == ([9], [6], [11])

    # So does the reconciliation: the row says so, and the others are reported.
    faults.inject("set_field", "GET", "/api/recurringinvoice", times=1, field="invoices[].id")
    rows = {row.account_ref: row for row in asyncio.run(world.reconciliation())}
    assert rows["A2"].unread is not None
    assert rows["A2"].unread.startswith("Halo answered GET /api/RecurringInvoice/-2")
    assert (rows["A2"].status, rows["A2"].out_of_date, rows["A2"].drift) == ("unread", False, False)
    assert (rows["A1"].status, rows["A3"].status) == ("in_step", "in_step")

    faults.clear()
    again = asyncio.run(world.usage())
    assert {c.account_ref: c.action for c in again.changes}["A2"] == "update"
    assert again.counts["failed"] == 0, again.counts
    assert (_mail(world, -1), _mail(world, -2), _mail(world, -3)) == ([9], [10], [11])


def test_an_invoice_read_again_without_its_id_before_writing_fails_its_pairs_alone(
    tmp_path: Path,
) -> None:
    """Just before the POST the invoices are read again; one answered by id without its id
    fails its own pairs ('could not be read again before writing'), and the other invoices
    of the batch are written. Before, every invoice of the batch failed with it."""
    world = _synced_then_recounted(_invoice_world(tmp_path, "invoice"), 8)
    faults = world.sim.state.faults
    # The plan's read sees every invoice; the read before the POST (by client) shows none
    # with its id, so each is read by id, and invoice -2's answer lacks it.
    faults.inject(
        "set_field",
        "GET",
        "/api/recurringinvoice",
        times=None,
        query={"client_ids": "1,2,3"},
        field="invoices[].id",
    )
    faults.inject("omit_field", "GET", "/api/recurringinvoice/-2", times=None, field="id")
    a2 = _only_a2_failed(asyncio.run(world.usage()))
    assert a2.reason.startswith(
        "recurring invoice -2 could not be read again before writing (Halo answered GET "
        "/api/RecurringInvoice/-2 with an object without an id"
    ), a2.reason
    assert a2.reason.endswith("; nothing was written"), a2.reason
    assert (_mail(world, -1), _mail(world, -2), _mail(world, -3)) == ([9], [6], [11])
