"""A live Halo changes while halosync reads it: never a second record, never an abandoned run.

The simulator holds the GET of one page of a list until the test has changed the list
(deleted and created records "by hand", through the simulator's control API), which is
what another user or integration writing to the same Halo does at any moment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from sqlalchemy import select, update

from halosync.domain.markers import find_marker
from halosync.store.models import HaloClient, HaloConnection, LogEntry
from halosync.sync.results import ChangeResult
from tests.sync.world import World, make_world, seed, usage_document

T = TypeVar("T")
ACCOUNTS = 150
HELD_PAGE_2 = {"method": "GET", "query": {"page_no": 2}}
Change = Callable[[httpx2.AsyncClient], Awaitable[None]]


async def while_held(world: World, path: str, change: Change, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; when it asks for page 2 of ``path``, hold it, ``change`` Halo, release."""
    async with world.control() as control:
        armed = await control.post(
            "/_simulator/faults", json={"kind": "hold", "path": path, **HELD_PAGE_2}
        )
        hold = armed.json()
        task = asyncio.ensure_future(work)
        deadline = time.monotonic() + 30
        while not task.done():
            faults = (await control.get("/_simulator/faults")).json()
            if next(f for f in faults if f["id"] == hold["id"])["holding"]:
                break
            assert time.monotonic() < deadline, "the run never asked for page 2"
            await asyncio.sleep(0.002)
        else:
            raise AssertionError(f"the run ended before page 2 was read: {task.result()}")
        await change(control)
        await control.post(f"/_simulator/faults/{hold['id']}/release")
        return await task


def accounts(n: int = ACCOUNTS) -> list[dict[str, Any]]:
    return [
        {"ref": f"A{i:03d}", "name": f"Client {i} Ltd", "status": "active", "billed": True}
        for i in range(1, n + 1)
    ]


def subscriptions(n: int = ACCOUNTS, quantity: int = 5) -> list[dict[str, Any]]:
    return [
        {"account_ref": f"A{i:03d}", "service_ref": service, "quantity": quantity}
        for i in range(1, n + 1)
        for service in ("MAIL", "BKP")
    ]


def ours(world: World, entity: str = "SoftwareLicence") -> Counter[str]:
    """How many Halo records carry each halosync marker."""
    if entity == "SoftwareLicence":
        notes = [lic.get("notes") for lic in world.licences()]
    else:
        notes = [
            line.get("comment_2")
            for invoice in world.sim.state.records("RecurringInvoice")
            for line in invoice["lines"]
        ]
    return Counter(marker for marker in map(find_marker, notes) if marker)


def assert_reconciliation_clean(world: World) -> None:
    rows = asyncio.run(world.reconciliation())
    assert len(rows) == 2 * ACCOUNTS
    assert [r for r in rows if r.drift or r.out_of_date or r.duplicates] == []
    assert {r.status for r in rows} == {"in_step"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def licences_world(tmp_path: Path) -> World:
    """150 accounts × 2 services synced (licences 2..301) beside a hand-made licence 1."""
    document = seed(ACCOUNTS)
    document["licences"] = [{"id": 1, "name": "Hand-made", "client_id": 1, "count": 3}]
    world = make_world(tmp_path, document=document)
    world.import_usage(usage_document(accounts(), subscriptions()))
    assert run(world.customers()).status == "succeeded"
    for i in range(1, ACCOUNTS + 1):
        world.map_account(f"A{i:03d}", i)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    first = run(world.usage())
    assert first.counts["created"] == 2 * ACCOUNTS, first
    assert sorted(lic["id"] for lic in world.licences())[:3] == [1, 2, 3]
    return world


def test_a_licence_that_slips_across_a_page_boundary_is_confirmed_not_created_again(
    licences_world: World,
) -> None:
    """The issue's reproduction, over a real port: hold page 2, delete the hand-made licence
    (one of ours slips onto page 1 unseen) and create another (the total stays 301)."""
    world = licences_world

    async def change(control: httpx2.AsyncClient) -> None:
        assert (await control.delete("/_simulator/records/SoftwareLicence/1")).status_code == 200
        made = await control.post(
            "/_simulator/records/SoftwareLicence",
            json={"name": "Hand-made too", "client_id": 2, "count": 1},
        )
        assert made.status_code == 201

    with world.serve():
        world.sim.state.request_log.clear()
        report = run(while_held(world, "/api/softwarelicence", change, world.usage()))
        assert report.status == "succeeded", report.error
        assert report.counts == {
            "created": 0,
            "updated": 0,
            "unchanged": 2 * ACCOUNTS,
            "skipped": 0,
            "failed": 0,
        }
        # Only the record that slipped out of sight cost a request of its own.
        by_id = [
            e for e in world.api_requests() if e.path.lower().startswith("/api/softwarelicence/")
        ]
        assert [e.path for e in by_id] == ["/api/SoftwareLicence/101"]
        markers = ours(world)
        assert len(markers) == 2 * ACCOUNTS
        assert set(markers.values()) == {1}
        later = run(world.usage())
        assert later.counts["unchanged"] == 2 * ACCOUNTS, later
        assert set(ours(world).values()) == {1}
        assert_reconciliation_clean(world)


def test_another_writer_adding_licences_mid_read_does_not_abandon_the_run(
    licences_world: World,
) -> None:
    """The total moves from 301 to 351 between pages: a normal day on a shared Halo."""
    world = licences_world
    world.review_off()  # the count's jump is not what this test is about
    world.import_usage(
        usage_document(
            accounts(),
            [{"account_ref": "A150", "service_ref": "BKP", "quantity": 9}],
        )
    )

    async def change(control: httpx2.AsyncClient) -> None:
        for n in range(50):
            made = await control.post(
                "/_simulator/records/SoftwareLicence",
                json={"name": f"Other tool {n}", "client_id": 1 + n % 10, "count": 1},
            )
            assert made.status_code == 201

    report = run(while_held(world, "/api/softwarelicence", change, world.usage()))
    assert report.status == "succeeded", report.error
    assert report.counts["failed"] == 0
    assert report.counts["created"] == 0
    assert report.counts["updated"] == 1
    assert set(ours(world).values()) == {1}
    assert len(world.licences()) == 2 * ACCOUNTS + 1 + 50


@pytest.fixture
def invoices_world(tmp_path: Path) -> World:
    """150 accounts × 2 services as lines of invoices -2..-151, beside hand-made invoice -1."""
    document = seed(ACCOUNTS)
    document["recurring_invoices"] = [{"id": -1, "client_id": 1, "reference": "Hand-made"}] + [
        {"id": -(n + 1), "client_id": n, "reference": f"Monthly {n}"}
        for n in range(1, ACCOUNTS + 1)
    ]
    world = make_world(tmp_path, target="invoice_line", document=document)
    # 150 invoices written one POST each (read again first) need more requests than one
    # rate window holds; these tests are about reading lists, so lines go in batches.
    with world.database.session() as session:
        session.execute(update(HaloConnection).values(line_write_path="update_lines"))
    world.import_usage(usage_document(accounts(), subscriptions()))
    assert run(world.customers()).status == "succeeded"
    for i in range(1, ACCOUNTS + 1):
        world.map_account(f"A{i:03d}", i, invoice=-(i + 1))
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    first = run(world.usage())
    assert first.counts["created"] == 2 * ACCOUNTS, first
    return world


def test_an_invoice_that_slips_across_a_page_boundary_is_confirmed_by_id(
    invoices_world: World,
) -> None:
    """The same race on recurring invoices: nothing is added twice and nothing is skipped."""
    world = invoices_world

    async def change(control: httpx2.AsyncClient) -> None:
        deleted = await control.delete("/_simulator/records/RecurringInvoice/-1")
        assert deleted.status_code == 200
        made = await control.post(
            "/_simulator/records/RecurringInvoice", json={"client_id": 3, "reference": "Another"}
        )
        assert made.status_code == 201

    report = run(while_held(world, "/api/recurringinvoice", change, world.usage()))
    assert report.status == "succeeded", report.error
    assert report.counts["unchanged"] == 2 * ACCOUNTS, [
        c.reason for c in report.changes if c.action != "unchanged"
    ]
    assert set(ours(world, "RecurringInvoice").values()) == {1}
    assert len(ours(world, "RecurringInvoice")) == 2 * ACCOUNTS
    assert_reconciliation_clean(world)


@pytest.fixture
def clients_world(tmp_path: Path) -> World:
    world = make_world(tmp_path, document=seed(ACCOUNTS))
    assert run(world.customers()).counts["created"] == ACCOUNTS + 3
    return world


def _gone(world: World) -> set[int]:
    with world.database.session() as session:
        return set(
            session.scalars(
                select(HaloClient.halo_id).where(
                    HaloClient.workspace_id == world.workspace_id, HaloClient.gone
                )
            )
        )


def test_a_client_that_slips_across_a_page_boundary_is_not_marked_gone(
    clients_world: World,
) -> None:
    world = clients_world

    async def change(control: httpx2.AsyncClient) -> None:
        assert (await control.delete("/_simulator/records/Client/1")).status_code == 200
        made = await control.post("/_simulator/records/Client", json={"name": "Newcomer Ltd"})
        assert made.status_code == 201

    report = run(while_held(world, "/api/client", change, world.customers()))
    assert report.status == "succeeded", report.error
    # Client 101 only moved onto page 1 while page 2 was held; client 1 was read before it
    # was deleted, so this pull saw it, and the next one finds it gone.
    assert _gone(world) == set()
    assert report.counts["created"] == 1
    later = run(world.customers())
    assert later.status == "succeeded"
    assert _gone(world) == {1}
    assert later.counts["created"] == 0


def test_clients_added_mid_read_do_not_abandon_the_pull(clients_world: World) -> None:
    world = clients_world

    async def change(control: httpx2.AsyncClient) -> None:
        for n in range(50):
            made = await control.post("/_simulator/records/Client", json={"name": f"New {n}"})
            assert made.status_code == 201

    report = run(while_held(world, "/api/client", change, world.customers()))
    assert report.status == "succeeded", report.error
    assert report.counts["created"] == 50
    assert _gone(world) == set()


# --- two Halo records carrying the same halosync marker ------------------------------------


def small_world(tmp_path: Path, target: str = "licence") -> World:
    """Two accounts × two services synced (10 each) to clients 1 and 2 (invoices -1, -2)."""
    lines = target == "invoice_line"
    world = make_world(tmp_path, target=target, document=seed(2, with_invoices=lines))
    world.import_usage(usage_document(accounts(2), subscriptions(2, quantity=10)))
    assert run(world.customers()).status == "succeeded"
    world.map_account("A001", 1, invoice=-1 if lines else None)
    world.map_account("A002", 2, invoice=-2 if lines else None)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    assert run(world.usage()).counts["created"] == 4
    return world


def recount_a001_mail(world: World) -> ChangeResult:
    """The vendor now counts 12 of A001's MAIL: sync, and return that pair's result."""
    world.import_usage(
        usage_document(
            accounts(2), [{"account_ref": "A001", "service_ref": "MAIL", "quantity": 12}]
        )
    )
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    return next(c for c in report.changes if (c.account_ref, c.service_ref) == ("A001", "MAIL"))


def _warnings(world: World) -> list[str]:
    with world.database.session() as session:
        return [
            f"{entry.title}: {entry.details}"
            for entry in session.scalars(
                select(LogEntry).where(LogEntry.level == "WARNING").order_by(LogEntry.id)
            )
        ]


def test_two_licences_with_one_marker_are_reported_and_only_the_ledgers_is_written(
    tmp_path: Path,
) -> None:
    """A licence deleted in Halo is recreated; when the admin then restores the deleted one
    from Halo's recycle bin, both carry the tag: flagged on every sync, one written."""
    world = small_world(tmp_path)
    state = world.sim.state
    first = next(
        lic
        for lic in world.licences()
        if lic["client_id"] == 1 and lic["name"] == "Mail Protection"
    )
    state.edit_by_hand("SoftwareLicence", first["id"], deleted=True)
    recreated = run(world.usage())
    assert recreated.counts["created"] == 1
    second = next(c for c in recreated.changes if c.action == "create").halo_id
    assert second is not None
    assert second != first["id"]
    state.edit_by_hand("SoftwareLicence", first["id"], deleted=False)

    change = recount_a001_mail(world)
    assert change.action == "update"
    assert change.halo_id == second
    assert change.level == "WARNING"
    assert str(first["id"]) in change.reason
    assert str(second) in change.reason
    assert change.duplicates == (first["id"],)
    assert state.record("SoftwareLicence", second)["count"] == 12  # type: ignore[index]
    assert state.record("SoftwareLicence", first["id"])["count"] == 10  # type: ignore[index]
    warnings = [w for w in _warnings(world) if "Duplicate" in w]
    assert len(warnings) == 1
    assert str(first["id"]) in warnings[0]
    assert str(second) in warnings[0]

    again = run(world.usage())
    assert next(c for c in again.changes if c.duplicates).action == "unchanged"
    assert len([w for w in _warnings(world) if "Duplicate" in w]) == 2
    rows = run(world.reconciliation())
    flagged = [r for r in rows if r.status == "duplicate"]
    assert [(r.account_ref, r.service_ref, r.halo_record_id, r.duplicates) for r in flagged] == [
        ("A001", "MAIL", second, (first["id"],))
    ]


def test_two_invoice_lines_with_one_marker_are_reported_and_only_the_ledgers_is_written(
    tmp_path: Path,
) -> None:
    """Someone copies halosync's line on the invoice, tag included: flagged, one written."""
    world = small_world(tmp_path, "invoice_line")
    line = next(ln for ln in world.invoice(-1)["lines"] if ln["_itemid"] == 1)
    copy = {"_itemid": 1, "qty_order": 10, "comment_2": line["comment_2"]}
    world.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=[copy])
    twin = next(
        ln["id"]
        for ln in world.invoice(-1)["lines"]
        if ln["_itemid"] == 1 and ln["id"] != line["id"]
    )

    change = recount_a001_mail(world)
    assert (change.action, change.halo_id, change.level) == ("update", line["id"], "WARNING")
    assert change.duplicates == (twin,)
    lines = {ln["id"]: ln for ln in world.invoice(-1)["lines"]}
    assert lines[line["id"]]["qty_order"] == 12
    assert lines[twin]["qty_order"] == 10
    warnings = [w for w in _warnings(world) if "Duplicate" in w]
    assert len(warnings) == 1
    assert str(twin) in warnings[0]
    assert str(line["id"]) in warnings[0]
    rows = run(world.reconciliation())
    assert [(r.account_ref, r.duplicates) for r in rows if r.status == "duplicate"] == [
        ("A001", (twin,))
    ]
