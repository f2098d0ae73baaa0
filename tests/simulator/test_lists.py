"""Lists: wrappers, pageinate/page_size/page_no, count, filters, slim rows, quirks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halosync.simulator import Simulator, generate_demo_seed
from tests.simulator.conftest import bearer, http_client

pytestmark = pytest.mark.anyio

WRAPPER_KEYS = [
    ("Client", "clients"),
    ("Site", "sites"),
    ("Item", "items"),
    ("Invoice", "invoices"),
    ("RecurringInvoice", "invoices"),
    ("ClientContract", "contracts"),
    ("SoftwareLicence", "licences"),
]


@pytest.fixture
def demo(sim: Simulator) -> Simulator:
    sim.state.seed(generate_demo_seed(clients=40, seed=3))
    return sim


async def get(http: httpx2.AsyncClient, path: str, **params: Any) -> Any:
    headers = await bearer(http)
    response = await http.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("entity", "key"), WRAPPER_KEYS)
async def test_wrapper_keys(
    demo: Simulator, client: httpx2.AsyncClient, entity: str, key: str
) -> None:
    body = await get(client, f"/api/{entity}", pageinate="true", page_size=5, page_no=1)
    assert set(body) == {"page_no", "page_size", "record_count", key}
    assert body["page_no"] == 1
    assert body["page_size"] == 5
    assert len(body[key]) == min(5, body["record_count"])
    assert body["record_count"] > 0


@pytest.mark.parametrize(("entity", "key"), WRAPPER_KEYS)
async def test_unpaged_lists_carry_only_record_count_and_rows(
    demo: Simulator, client: httpx2.AsyncClient, entity: str, key: str
) -> None:
    # A client written against real Halo reads an unpaged answer only in this shape.
    body = await get(client, f"/api/{entity}", count=3, page_size=5, page_no=2)
    assert set(body) == {"record_count", key}
    assert len(body[key]) == min(3, body["record_count"])
    ids_only = await get(client, f"/api/{entity}", idonly="true")
    assert set(ids_only) == {"record_count", key}


async def test_routes_are_case_insensitive(demo: Simulator, client: httpx2.AsyncClient) -> None:
    lower = await get(client, "/api/softwarelicence")
    camel = await get(client, "/API/SoftwareLicence")
    assert lower == camel
    assert lower["licences"]


async def test_paging_reads_every_row_once(demo: Simulator, client: httpx2.AsyncClient) -> None:
    seen: list[int] = []
    page_no = 1
    while True:
        body = await get(client, "/api/Site", pageinate="true", page_size=7, page_no=page_no)
        seen.extend(row["id"] for row in body["sites"])
        if len(seen) >= body["record_count"] or not body["sites"]:
            break
        page_no += 1
    assert len(seen) == len(set(seen)) == len(demo.state.records("Site"))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(0, 60), page_size=st.integers(1, 120))
def test_pages_concatenate_to_the_whole_list(
    make_sim: Callable[..., Simulator], rows: int, page_size: int
) -> None:
    import asyncio

    sim = make_sim()
    sim.state.seed({"items": [{"name": f"Item {n}"} for n in range(rows)]})

    async def read_all() -> tuple[list[int], int]:
        async with http_client(sim) as http:
            ids: list[int] = []
            for page_no in range(1, rows // max(page_size, 1) + 3):
                body = await get(
                    http, "/api/Item", pageinate="true", page_size=page_size, page_no=page_no
                )
                assert len(body["items"]) <= min(page_size, 100)
                ids.extend(row["id"] for row in body["items"])
            return ids, body["record_count"]

    ids, record_count = asyncio.run(read_all())
    assert record_count == rows
    assert ids == list(range(1, rows + 1))


async def test_page_size_is_capped(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.seed({"items": [{"name": f"I{n}"} for n in range(150)]})
    body = await get(client, "/api/Item", pageinate="true", page_size=1000)
    assert body["page_size"] == 100
    assert len(body["items"]) == 100
    assert body["record_count"] == 150


async def test_without_pageinate_count_limits_and_paging_is_ignored(
    sim: Simulator, client: httpx2.AsyncClient
) -> None:
    sim.state.seed({"items": [{"name": f"I{n}"} for n in range(120)]})
    default = await get(client, "/api/Item", page_size=10, page_no=3)
    assert len(default["items"]) == 50
    assert default["items"][0]["id"] == 1
    assert default["record_count"] == 120
    counted = await get(client, "/api/Item", count=110)
    assert len(counted["items"]) == 110


async def test_bad_paging_values_are_400(demo: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    response = await client.get(
        "/api/Client", params={"pageinate": "true", "page_no": "abc"}, headers=headers
    )
    assert response.status_code == 400
    assert list(response.json()) == ["page_no"]
    zero = await client.get(
        "/api/Client", params={"pageinate": "true", "page_size": 0}, headers=headers
    )
    assert list(zero.json()) == ["page_size"]


async def test_search_and_client_filters(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.seed(
        {
            "clients": [{"id": 1, "name": "Acme Widgets Ltd"}, {"id": 2, "name": "Bolt Inc"}],
            "licences": [
                {"name": "Endpoint Protection", "client_id": 1},
                {"name": "Email Security", "client_id": 2},
                {"name": "Endpoint Protection", "client_id": 2},
            ],
        }
    )
    clients = await get(client, "/api/Client", search="widget")
    assert [row["name"] for row in clients["clients"]] == ["Acme Widgets Ltd"]
    licences = await get(client, "/api/SoftwareLicence", client_id=2)
    assert sorted(row["name"] for row in licences["licences"]) == [
        "Email Security",
        "Endpoint Protection",
    ]
    both = await get(client, "/api/SoftwareLicence", client_id=2, search="endpoint")
    assert both["record_count"] == 1
    assert both["licences"][0]["client_name"] == "Bolt Inc"


async def test_inactive_rows_need_includeinactive(
    sim: Simulator, client: httpx2.AsyncClient
) -> None:
    sim.state.seed(
        {
            "clients": [{"name": "Live Ltd"}, {"name": "Gone Ltd", "inactive": True}],
            "items": [{"name": "Old", "status": 1}, {"name": "New"}],
            "licences": [
                {"name": "L1", "client_id": 1},
                {"name": "L2", "client_id": 1, "is_active": False},
            ],
        }
    )
    assert (await get(client, "/api/Client"))["record_count"] == 1
    assert (await get(client, "/api/Client", includeinactive="true"))["record_count"] == 2
    only_inactive = await get(client, "/api/Client", includeinactive="true", includeactive="false")
    assert [row["name"] for row in only_inactive["clients"]] == ["Gone Ltd"]
    assert (await get(client, "/api/Item"))["record_count"] == 1
    assert (await get(client, "/api/SoftwareLicence"))["record_count"] == 1
    assert (await get(client, "/api/SoftwareLicence", includeinactive="true"))["record_count"] == 2


async def test_list_rows_are_slim_and_lines_need_includelines(
    demo: Simulator, client: httpx2.AsyncClient
) -> None:
    full_client = demo.state.records("Client")[0]
    row = (await get(client, "/api/Client", count=1))["clients"][0]
    assert set(row) < set(full_client)
    listed = await get(client, "/api/RecurringInvoice")
    assert listed["invoices"]
    assert all("lines" not in row for row in listed["invoices"])
    with_lines = await get(client, "/api/RecurringInvoice", includelines="true")
    assert all(row["lines"] for row in with_lines["invoices"])
    single = await get(client, f"/api/RecurringInvoice/{listed['invoices'][0]['id']}")
    assert single["lines"] == with_lines["invoices"][0]["lines"]


@pytest.mark.parametrize("entity", ["RecurringInvoice", "Invoice"])
async def test_invoice_list_rows_are_the_header_without_nested_objects(
    demo: Simulator, client: httpx2.AsyncClient, entity: str
) -> None:
    listed = await get(client, f"/api/{entity}", count=5)
    assert listed["invoices"]
    for row in listed["invoices"]:
        single = await get(client, f"/api/{entity}/{row['id']}")
        header = {k: v for k, v in single.items() if not isinstance(v, dict | list)}
        assert row == header
    # Fields of the real recurring-invoice response that a list reader relies on.
    assert {
        "use",
        "type",
        "posted",
        "sitenumber",
        "invoicenumber",
        "last_modified",
        "date_created",
        "nextcreationdate",
        "disabled",
    } <= set(listed["invoices"][0])


async def test_order_parameters(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.seed({"clients": [{"name": n} for n in ("Charlie", "alpha", "Bravo")]})
    ordered = await get(client, "/api/Client", order="name")
    assert [row["name"] for row in ordered["clients"]] == ["alpha", "Bravo", "Charlie"]
    desc = await get(client, "/api/Client", order="name", orderdesc="true")
    assert [row["name"] for row in desc["clients"]] == ["Charlie", "Bravo", "alpha"]


@pytest.mark.parametrize("entity", ["Item", "Invoice", "RecurringInvoice"])
async def test_bare_array_quirk(make_sim: Callable[..., Simulator], entity: str) -> None:
    sim = make_sim(bare_list_arrays=True)
    sim.state.seed(generate_demo_seed(clients=5, seed=1))
    async with http_client(sim) as http:
        body = await get(http, f"/api/{entity}")
        wrapped = await get(http, "/api/Client")
    assert isinstance(body, list)
    assert body
    assert isinstance(wrapped, dict)


async def test_missing_ids_are_404(client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    for path in ("/api/Client/99", "/api/RecurringInvoice/-5", "/api/SoftwareLicence/1"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404
    assert (await client.get("/api/Client/abc", headers=headers)).status_code == 400
    assert (await client.get("/api/Nope", headers=headers)).status_code == 404


async def test_single_get_shapes_follow_halo(demo: Simulator, client: httpx2.AsyncClient) -> None:
    invoice = demo.state.records("RecurringInvoice")[0]
    body = await get(client, f"/api/RecurringInvoice/{invoice['id']}")
    assert body["id"] < 0
    assert body["is_recurring_invoice"] is True
    assert body["use"] == "invoice"
    assert body["schedule_date"] == "1899-12-30T00:00:00"
    assert body["client"]["id"] == body["client_id"]
    assert body["schedule"]["id"] == body["schedule_id"]
    for line in body["lines"]:
        assert line["ihid"] == body["id"]
        assert {"_itemid", "qty_order", "unit_price", "unit_cost", "quantity_licences"} <= set(line)
        assert line["asset_id"] == -1
        assert line["recurring_invoice_id"] == -1
        assert line["net_amount"] == pytest.approx(line["qty_order"] * line["unit_price"])
