"""Paging, list shapes, typed reads, batched writes and their response shapes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from halosync.halopsa.billing import read_invoice, read_licence
from halosync.halopsa.errors import (
    HaloRequestRejectedError,
    HaloServerError,
    HaloUnreadableAnswerError,
    MissingPermissionError,
    PagingInconsistentError,
)
from halosync.halopsa.paging import list_key, unwrap_list
from halosync.simulator import generate_demo_seed
from halosync.simulator.faults import Fault
from tests.halopsa.conftest import Halo

pytestmark = pytest.mark.anyio


async def test_paging_over_a_thousand_clients(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=1200))
    active = [c for c in halo.app.state.records("Client") if not c.get("inactive")]
    async with halo.client() as client:
        clients = await client.clients()
        everyone = await client.clients(include_inactive=True)
    assert len(everyone) == 1200
    assert sorted(c.id for c in clients) == sorted(c["id"] for c in active)
    pages = [e for e in halo.requests("/api/Client") if "includeinactive=true" in e.query]
    assert len(pages) == 13  # 12 full pages, then the empty one that ends the list
    assert all("pageinate=true" in e.query and "page_size=100" in e.query for e in pages)


@pytest.mark.parametrize("bare", [False, True])
async def test_both_list_shapes_with_lines(make_halo: Callable[..., Halo], bare: bool) -> None:
    halo = make_halo(bare_list_arrays=True) if bare else make_halo()
    halo.app.state.seed(generate_demo_seed(clients=260))
    expected = halo.app.state.records("RecurringInvoice")
    async with halo.client(scopes=("read:customers", "read:items", "edit:invoices")) as client:
        rows = await client.list_records("RecurringInvoice", params={"includelines": True})
        invoices = [read_invoice(row) for row in rows]
        slim = [read_invoice(row) for row in await client.list_records("RecurringInvoice")]
        items = await client.items()
        record = await client.get_record("RecurringInvoice", invoices[0].id)
        one = read_invoice(record) if record else None
    assert len(invoices) == len(expected) > 100
    assert all(i.id < 0 for i in invoices)
    assert sum(len(i.lines or []) for i in invoices) > 0
    assert all(i.lines is None for i in slim)  # not read: unknown, not empty
    assert one is not None
    assert one.lines == invoices[0].lines
    assert len(items) == len(halo.app.state.records("Item"))
    assert all(line.item_id for i in invoices for line in i.lines or [])


async def test_short_page_cap_is_followed(make_halo: Callable[..., Halo]) -> None:
    halo = make_halo(max_page_size=40, default_page_size=40)
    halo.app.state.seed(generate_demo_seed(clients=130))
    async with halo.client() as client:
        assert len(await client.clients(include_inactive=True)) == 130


async def test_missing_record_reads_as_none(halo: Halo) -> None:
    async with halo.client() as client:
        assert await client.get_record("SoftwareLicence", 999) is None


def _licences(n: int, client_id: int = 1) -> list[dict[str, Any]]:
    return [
        {"name": f"Seats {i}", "client_id": client_id, "count": i, "item_id": 1, "type": 1}
        for i in range(n)
    ]


@pytest.mark.parametrize("shape", ["auto", "array", "wrapped"])
async def test_batched_writes_map_back_by_order(make_halo: Callable[..., Halo], shape: str) -> None:
    halo = make_halo(post_response_shape=shape)
    halo.app.state.seed(generate_demo_seed(clients=3))
    before = len(halo.app.state.records("SoftwareLicence"))
    async with halo.client(batch_size=50) as client:
        saved = await client.save_records("SoftwareLicence", _licences(121))
        assert [r["name"] for r in saved] == [f"Seats {i}" for i in range(121)]
        updated = await client.save_records(
            "SoftwareLicence", [{"id": saved[5]["id"], "count": 77}]
        )
        assert updated[0]["count"] == 77
        record = await client.get_record("SoftwareLicence", saved[5]["id"])
        assert record is not None
        assert read_licence(record).count == 77
    assert len(halo.requests("/api/SoftwareLicence", "POST")) == 4
    assert len(halo.app.state.records("SoftwareLicence")) == before + 121


async def test_rejected_write_names_the_request(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=2))
    async with halo.client() as client:
        with pytest.raises(HaloRequestRejectedError) as caught:
            await client.save_records("SoftwareLicence", [{"name": "x", "client_id": 999999}])
    error = caught.value
    assert error.request is not None
    assert error.request.method == "POST"
    assert error.request.path == "/api/SoftwareLicence"
    assert "999999" in (error.request.body_summary or "")
    assert error.kind == "fatal"


@pytest.mark.parametrize("shape", ["flat", "problem_details"])
async def test_rejected_write_shows_halos_field_message(
    make_halo: Callable[..., Halo], shape: str
) -> None:
    # Halo answers field errors flat; ASP.NET's problem-details wrapper must read the same.
    halo = make_halo(validation_body=shape)
    halo.app.state.seed(generate_demo_seed(clients=2))
    async with halo.client() as client:
        with pytest.raises(HaloRequestRejectedError) as caught:
            await client.save_records(
                "SoftwareLicence",
                [
                    {"name": "x", "client_id": 1, "end_date": "banana"},
                    {"name": "y", "client_id": 999999},
                ],
            )
    error = caught.value
    assert error.field_errors == {
        "[0].end_date": ("Could not convert string to DateTime: banana.",),
        "[1].client_id": ("client_id 999999 does not exist.",),
    }
    assert error.halo_message == (
        "[0].end_date: Could not convert string to DateTime: banana.; "
        "[1].client_id: client_id 999999 does not exist."
    )
    assert "One or more validation errors" not in str(error)
    assert error.row_message(1) == "client_id: client_id 999999 does not exist."
    assert error.row_message(0) == "end_date: Could not convert string to DateTime: banana."
    assert error.named_rows(3) == [0, 1]
    assert error.row_errors(1) == {"client_id": ("client_id 999999 does not exist.",)}
    assert error.row_errors(2) == {}


async def test_an_unpaged_answer_reads_like_a_paged_one(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=30))
    async with halo.client() as client:
        unpaged = await client.request("GET", "Client", params={"count": 10})
        everyone = await client.clients()
    rows, record_count = unwrap_list(unpaged, list_key("Client"))
    assert [row["id"] for row in rows] == [c.id for c in everyone[:10]]
    assert record_count == len(everyone)


@pytest.mark.parametrize(
    ("method", "entity", "wording"),
    [
        ("GET", "Item", "Items (US) / Assets (UK): read [read:items]"),
        ("GET", "Client", "Clients (US) / Customers (UK): read [read:customers]"),
        ("POST", "SoftwareLicence", "Software Licensing / Subscriptions"),
        ("GET", "RecurringInvoice", "Invoices: read [read:invoices]"),
        ("GET", "ClientContract", "Client Contracts (US) / Customer Agreements (UK)"),
    ],
)
async def test_missing_permission_is_named(
    make_halo: Callable[..., Halo], method: str, entity: str, wording: str
) -> None:
    halo = make_halo(app_scopes=("read:softwarelicensing",))
    async with halo.client() as client:
        with pytest.raises(MissingPermissionError, match=re.escape(wording)) as c:
            await client.request(method, entity, json=[] if method == "POST" else None)
    assert c.value.kind == "configuration"
    assert c.value.fix is not None
    assert "Permissions" in c.value.fix
    assert len(c.value.permissions) == 1


def _licences_on_client_1(halo: Halo, n: int) -> None:
    halo.app.state.seed(
        {
            "clients": [{"id": 1, "name": "One Ltd"}],
            "licences": [{"name": f"L{i}", "client_id": 1, "count": i} for i in range(n)],
        }
    )


def _delete_one_whenever_page_2_is_read(halo: Halo, times: int) -> asyncio.Future[None]:
    """Another writer: while page 2 of the licence list is held, delete the first licence.

    Each hold is armed before the reader can get there (in-process, the reader only lets
    other tasks run while it is held).
    """
    state = halo.app.state

    def hold_page_2() -> Fault:
        return state.faults.inject("hold", "GET", "/api/softwarelicence", query={"page_no": 2})

    async def writer(hold: Fault) -> None:
        for turn in range(times):
            while hold.holding == 0:
                await asyncio.sleep(0.001)
            state.delete_by_hand("SoftwareLicence", min(r["id"] for r in state.records("licences")))
            previous, hold = hold, (hold_page_2() if turn + 1 < times else hold)
            state.faults.release(previous.id)

    return asyncio.ensure_future(writer(hold_page_2()))


async def test_a_record_count_below_the_rows_does_not_end_the_read(halo: Halo) -> None:
    # Halo's total says 4, but every page so far was full: the rows returned count, so the
    # read goes on to a short page (section 7: never truncate silently).
    _licences_on_client_1(halo, 7)
    state = halo.app.state
    state.faults.inject(
        "set_field", "GET", "/api/softwarelicence", times=None, field="record_count", value=4
    )
    async with halo.client(page_size=2) as client:
        rows = await client.list_whole("SoftwareLicence", params={"client_id": 1})
        assert len(rows) == 7
        state.faults.clear()
        # A total that is right and a full last page: one more (empty) page ends it.
        state.delete_by_hand("SoftwareLicence", rows[0]["id"])
        state.request_log.clear()
        assert len(await client.list_whole("SoftwareLicence", params={"client_id": 1})) == 6
        assert len(halo.requests("/api/SoftwareLicence")) == 4


async def test_a_halo_that_ignores_paging_is_read_whole(make_halo: Callable[..., Halo]) -> None:
    # Page 1 already holds every record Halo counts; page 2 repeats it. That is the whole
    # list, not "paging is not advancing".
    halo = make_halo(max_page_size=50)
    _licences_on_client_1(halo, 7)
    halo.app.state.faults.inject("ignore_paging", "GET", "/api/softwarelicence", times=None)
    async with halo.client(page_size=3) as client:
        rows = await client.list_whole("SoftwareLicence", params={"client_id": 1})
    assert sorted(row["name"] for row in rows) == [f"L{i}" for i in range(7)]
    assert len(halo.requests("/api/SoftwareLicence")) == 2


async def test_a_halo_whose_paging_does_not_advance_is_an_error_not_a_short_list(
    make_halo: Callable[..., Halo],
) -> None:
    # Every page is page 1 (5 records of 7): page 2 repeats it, and page 1 read again still
    # holds them, so the list is neither taken as whole nor read forever.
    halo = make_halo(max_page_size=5, default_page_size=5)
    _licences_on_client_1(halo, 7)
    halo.app.state.faults.inject("ignore_paging", "GET", "/api/softwarelicence", times=None)
    async with halo.client(page_size=3) as client:
        with pytest.raises(PagingInconsistentError, match="paging is not advancing"):
            await client.list_whole("SoftwareLicence", params={"client_id": 1})
    assert len(halo.requests("/api/SoftwareLicence")) == 3


async def test_a_whole_list_is_read_again_until_it_held_still(halo: Halo) -> None:
    _licences_on_client_1(halo, 6)
    async with halo.client(page_size=2) as client:
        writer = _delete_one_whenever_page_2_is_read(halo, 1)
        rows = await client.list_whole("SoftwareLicence", params={"client_id": 1})
        await writer
    assert sorted(row["id"] for row in rows) == [2, 3, 4, 5, 6]


async def test_a_list_that_never_holds_still_is_not_taken_as_whole(halo: Halo) -> None:
    _licences_on_client_1(halo, 8)
    async with halo.client(page_size=2) as client:
        writer = _delete_one_whenever_page_2_is_read(halo, 3)
        with pytest.raises(PagingInconsistentError, match="kept changing"):
            await client.list_whole("SoftwareLicence", params={"client_id": 1})
        await writer


async def test_an_object_without_an_id_is_unreadable_not_gone(halo: Halo) -> None:
    # Only a 404 or an empty object means "deleted" (halopsa-api.md section 7): any other
    # object without an id would have had the licence created again (billed twice).
    _licences_on_client_1(halo, 3)
    faults = halo.app.state.faults
    async with halo.client() as client:
        faults.inject("omit_field", "GET", "/api/softwarelicence/2", field="id")
        with pytest.raises(HaloUnreadableAnswerError, match="without an id") as raised:
            await client.get_record("SoftwareLicence", 2)
        assert raised.value.retryable
        faults.inject("set_field", "GET", "/api/softwarelicence/2", field="$", value={"id": 0})
        with pytest.raises(HaloUnreadableAnswerError, match="GET /api/SoftwareLicence/2"):
            await client.get_records("SoftwareLicence", [1, 2, 3])
        faults.inject("set_field", "GET", "/api/softwarelicence/2", field="$", value={})
        assert await client.get_record("SoftwareLicence", 2) is None


async def test_records_are_confirmed_by_id_a_few_at_a_time(halo: Halo) -> None:
    _licences_on_client_1(halo, 10)
    async with halo.client() as client:
        found = await client.get_records("SoftwareLicence", [3, 99, 1, 3, 7, 98])
        assert list(found) == [3, 99, 1, 7, 98]
        assert {k for k, v in found.items() if v is None} == {98, 99}
        assert all(v["id"] == k for k, v in found.items() if v is not None)
        halo.app.state.faults.inject("error", "GET", "/api/softwarelicence/5", times=None)
        # A failure that is not a 404 is never read as "deleted": it is raised, not grouped.
        with pytest.raises(HaloServerError, match="500"):
            await client.get_records("SoftwareLicence", [1, 2, 5, 6])
