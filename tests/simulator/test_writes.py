"""POST create/update (array bodies), response shapes, recurring-invoice lines, DELETE."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from halosync.simulator import Simulator
from tests.simulator.conftest import bearer, http_client

pytestmark = pytest.mark.anyio

BASE = {
    "clients": [{"id": 10, "name": "Acme Ltd"}, {"id": 11, "name": "Bolt Inc"}],
    "items": [
        {"id": 5, "name": "Endpoint Protection", "baseprice": 4.5, "costprice": 2.1},
        {
            "id": 6,
            "name": "Microsoft 365 Business Premium",
            "recurringprice": 22.0,
            "recurringcost": 18.7,
            "isrecurringitem": True,
        },
    ],
}


@pytest.fixture
def seeded(sim: Simulator) -> Simulator:
    sim.state.seed(BASE)
    return sim


async def post(http: httpx2.AsyncClient, path: str, body: Any) -> httpx2.Response:
    return await http.post(path, json=body, headers=await bearer(http))


async def test_create_then_update_keeps_omitted_fields(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    created = await post(
        client,
        "/api/SoftwareLicence",
        [{"name": "Endpoint Protection", "client_id": 10, "count": 5, "item_id": 5, "price": 4.5}],
    )
    assert created.status_code == 201
    licence = created.json()
    assert licence["id"] > 0
    assert licence["client_name"] == "Acme Ltd"
    assert licence["item_name"] == "Endpoint Protection"
    updated = await post(client, "/api/SoftwareLicence", [{"id": licence["id"], "count": "7"}])
    assert updated.status_code == 201
    assert updated.json()["count"] == 7
    assert updated.json()["price"] == 4.5
    assert seeded.state.record("SoftwareLicence", licence["id"])["count"] == 7  # type: ignore[index]


async def test_id_zero_creates(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    response = await post(client, "/api/Client", [{"id": 0, "name": "New Co LLC"}])
    assert response.json()["id"] == 12


async def test_several_elements_come_back_as_an_array_in_order(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    response = await post(
        client,
        "/api/SoftwareLicence",
        [{"name": "A", "client_id": 10}, {"name": "B", "client_id": 11}],
    )
    assert [row["name"] for row in response.json()] == ["A", "B"]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("auto", lambda body: isinstance(body, dict) and body["name"] == "X"),
        ("array", lambda body: isinstance(body, list) and body[0]["name"] == "X"),
        ("wrapped", lambda body: body["licences"][0]["name"] == "X"),
    ],
)
async def test_post_response_shape_quirks(
    make_sim: Callable[..., Simulator], shape: str, expected: Callable[[Any], bool]
) -> None:
    sim = make_sim(post_response_shape=shape)
    sim.state.seed(BASE)
    async with http_client(sim) as http:
        response = await post(http, "/api/SoftwareLicence", [{"name": "X", "client_id": 10}])
    assert response.status_code == 201
    assert expected(response.json())


async def test_bad_batch_changes_nothing_and_names_the_fields(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    response = await post(
        client,
        "/api/SoftwareLicence",
        [
            {"name": "Fine", "client_id": 10},
            {"name": "Bad count", "client_id": 10, "count": "many"},
            {"client_id": 999},
            {"id": 4242, "count": 1},
        ],
    )
    assert response.status_code == 400
    errors = response.json()
    assert "[1].count" in errors
    assert "[2].name" in errors
    assert "[2].client_id" in errors
    assert "[3].id" in errors
    assert seeded.state.records("SoftwareLicence") == []


async def test_validation_errors_are_flat_like_halos(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    response = await post(client, "/api/SoftwareLicence", [{"id": "abc"}])
    assert response.status_code == 400
    body = response.json()
    # Field path -> messages at the top level, as Halo answers (no problem-details wrapper).
    assert list(body) == ["[0].id"]
    assert isinstance(body["[0].id"][0], str)
    assert "abc" in body["[0].id"][0]


async def test_a_record_whose_client_was_deleted_cannot_be_saved(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    """Halo validates the record as it would be saved, kept fields too: an update of a
    recurring invoice whose client was deleted is refused naming client_id."""
    seeded.state.seed({"recurring_invoices": [{"id": -1, "client_id": 11, "lines": []}]})
    seeded.state.delete_by_hand("Client", 11)
    line = {"_itemid": 5, "qty_order": 2}
    response = await post(client, "/api/RecurringInvoice", [{"id": -1, "lines": [line]}])
    assert response.status_code == 400
    assert response.json() == {"[0].client_id": ["client_id 11 does not exist."]}
    assert seeded.state.record("RecurringInvoice", -1)["lines"] == []  # type: ignore[index]


async def test_problem_details_quirk_wraps_the_same_errors(
    make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(validation_body="problem_details")
    sim.state.seed(BASE)
    async with http_client(sim) as http:
        response = await post(http, "/api/SoftwareLicence", [{"name": "X", "client_id": 999}])
    body = response.json()
    assert response.status_code == 400
    assert body["title"] == "One or more validation errors occurred."
    assert body["status"] == 400
    assert body["errors"] == {"[0].client_id": ["client_id 999 does not exist."]}


@pytest.mark.parametrize(
    "value", ["banana", "2026-13-45", "2026-02-30", "2026-01-01T25:00:00", 20260101, True, {}]
)
async def test_dates_a_dotnet_binder_refuses_are_a_400_naming_the_field(
    seeded: Simulator, client: httpx2.AsyncClient, value: Any
) -> None:
    response = await post(
        client, "/api/SoftwareLicence", [{"name": "A", "client_id": 10, "end_date": value}]
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["[0].end_date"]
    assert "DateTime" in body["[0].end_date"][0]
    assert seeded.state.records("SoftwareLicence") == []


@pytest.mark.parametrize(
    ("sent", "answered"),
    [
        ("2026-01-01", "2026-01-01T00:00:00"),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00"),
        ("2026-01-01 07:30", "2026-01-01T07:30:00"),
        ("2026-01-01T10:20:30Z", "2026-01-01T10:20:30"),
        ("2026-01-01T10:20:30.5+02:00", "2026-01-01T08:20:30.5"),
        ("2025-03-20T18:50:25.0571234", "2025-03-20T18:50:25.057"),
        ("1901-01-01T00:00:00", "1901-01-01T00:00:00"),
    ],
)
async def test_dates_come_back_in_halos_form(
    seeded: Simulator, client: httpx2.AsyncClient, sent: str, answered: str
) -> None:
    response = await post(
        client, "/api/SoftwareLicence", [{"name": "A", "client_id": 10, "start_date": sent}]
    )
    assert response.status_code == 201, response.text
    assert response.json()["start_date"] == answered
    listed = await client.get("/api/SoftwareLicence", headers=await bearer(client))
    assert listed.json()["licences"][0]["start_date"] == answered


async def test_a_blank_date_is_not_given(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    created = await post(
        client,
        "/api/SoftwareLicence",
        [{"name": "A", "client_id": 10, "end_date": "2027-01-31T00:00:00"}],
    )
    licence_id = created.json()["id"]
    kept = await post(client, "/api/SoftwareLicence", [{"id": licence_id, "end_date": ""}])
    assert kept.status_code == 201
    assert kept.json()["end_date"] == "2027-01-31T00:00:00"


async def test_licence_type_defaults_to_zero_and_keeps_what_is_sent(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    omitted = await post(client, "/api/SoftwareLicence", [{"name": "A", "client_id": 10}])
    assert omitted.json()["type"] == 0
    sent = await post(client, "/api/SoftwareLicence", [{"name": "B", "client_id": 10, "type": 1}])
    assert sent.json()["type"] == 1
    headers = await bearer(client)
    for licence_type, names in (("0", ["A"]), ("1", ["B"])):
        listed = await client.get(
            "/api/SoftwareLicence", params={"licence_type": licence_type}, headers=headers
        )
        assert [row["name"] for row in listed.json()["licences"]] == names


@pytest.mark.parametrize("body", [{"name": "Not an array"}, "text", None])
async def test_post_body_must_be_an_array(
    seeded: Simulator, client: httpx2.AsyncClient, body: Any
) -> None:
    response = await post(client, "/api/Client", body)
    assert response.status_code == 400
    assert "JSON array" in response.json()["$"][0]


async def test_invalid_json_is_400(client: httpx2.AsyncClient) -> None:
    headers = {**await bearer(client), "content-type": "application/json"}
    response = await client.post("/api/Client", content=b"[{", headers=headers)
    assert response.status_code == 400


async def test_unknown_fields_are_ignored(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    response = await post(client, "/api/Client", [{"name": "Z Ltd", "not_a_field": 1}])
    assert "not_a_field" not in response.json()


async def test_recurring_invoice_ids_are_negative_and_lines_default_from_items(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    response = await post(
        client,
        "/api/RecurringInvoice",
        [
            {
                "client_id": 10,
                "reference": "Monthly Billing",
                "lines": [{"_itemid": 6, "qty_order": 3}],
            }
        ],
    )
    assert response.status_code == 201
    invoice = response.json()
    assert invoice["id"] == -1
    (line,) = invoice["lines"]
    assert line["ihid"] == -1
    assert line["item_shortdescription"] == "Microsoft 365 Business Premium"
    assert line["unit_price"] == 22.0
    assert line["unit_cost"] == 18.7
    assert line["net_amount"] == pytest.approx(66.0)
    second = await post(client, "/api/RecurringInvoice", [{"client_id": 11}])
    assert second.json()["id"] == -2


async def test_lines_replace_and_add_lines_append(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    created = (
        await post(
            client,
            "/api/RecurringInvoice",
            [
                {
                    "client_id": 10,
                    "lines": [
                        {"_itemid": 5, "qty_order": 1},
                        {"_itemid": 6, "qty_order": 2},
                        {"item_shortdescription": "Consultancy", "qty_order": 1, "unit_price": 90},
                    ],
                }
            ],
        )
    ).json()
    first, second, third = created["lines"]
    assert [first["sequenceid"], second["sequenceid"], third["sequenceid"]] == [1, 2, 3]
    replaced = (
        await post(
            client,
            "/api/RecurringInvoice",
            [
                {
                    "id": created["id"],
                    "lines": [{"id": second["id"], "qty_order": 9}, {"id": third["id"]}],
                }
            ],
        )
    ).json()
    assert [(line["id"], line["qty_order"]) for line in replaced["lines"]] == [
        (second["id"], 9.0),
        (third["id"], 1.0),
    ]
    assert replaced["lines"][1]["unit_price"] == 90.0
    appended = (
        await post(
            client,
            "/api/RecurringInvoice",
            [{"id": created["id"], "add_lines": [{"_itemid": 5, "qty_order": 4}]}],
        )
    ).json()
    assert [line["qty_order"] for line in appended["lines"]] == [9.0, 1.0, 4.0]
    assert appended["lines"][2]["sequenceid"] == 4
    untouched = (
        await post(client, "/api/RecurringInvoice", [{"id": created["id"], "notes_1": "x"}])
    ).json()
    assert len(untouched["lines"]) == 3


async def test_line_errors_are_named_and_nothing_changes(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    created = (
        await post(client, "/api/RecurringInvoice", [{"client_id": 10, "lines": [{"_itemid": 5}]}])
    ).json()
    response = await post(
        client,
        "/api/RecurringInvoice",
        [{"id": created["id"], "lines": [{"_itemid": 777}, {"id": 99999, "qty_order": 1}]}],
    )
    assert response.status_code == 400
    assert set(response.json()) == {"[0].lines[0]._itemid", "[0].lines[1].id"}
    stored = seeded.state.record("RecurringInvoice", created["id"])
    assert stored is not None
    assert [line["_itemid"] for line in stored["lines"]] == [5]


async def test_licence_linked_line_quantity_follows_the_licence(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    licence = (
        await post(client, "/api/SoftwareLicence", [{"name": "M365", "client_id": 10, "count": 14}])
    ).json()
    invoice = (
        await post(
            client,
            "/api/RecurringInvoice",
            [
                {
                    "client_id": 10,
                    "lines": [
                        {
                            "_itemid": 6,
                            "recurring_invoice_quantity_type": 1,
                            "quantity_licences": [{"licence_id": licence["id"], "qty_free": 2}],
                        }
                    ],
                }
            ],
        )
    ).json()
    link = invoice["lines"][0]["quantity_licences"][0]
    assert link["licence_name"] == "M365"
    assert link["invoice_line_id"] == invoice["lines"][0]["id"]
    assert invoice["lines"][0]["qty_order"] == 12.0
    assert invoice["contains_calculated_quantity"] is True
    await post(client, "/api/SoftwareLicence", [{"id": licence["id"], "count": 20}])
    again = seeded.state.record("RecurringInvoice", invoice["id"])
    assert again is not None
    assert again["lines"][0]["qty_order"] == 18.0


async def test_updatelines_endpoint(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    invoice = (
        await post(client, "/api/RecurringInvoice", [{"client_id": 10, "lines": [{"_itemid": 5}]}])
    ).json()
    line_id = invoice["lines"][0]["id"]
    response = await post(
        client,
        "/api/RecurringInvoice/updatelines",
        [
            {"id": line_id, "ihid": invoice["id"], "qty_order": 6},
            {"ihid": invoice["id"], "_itemid": 6},
        ],
    )
    assert response.status_code == 201
    assert [line["qty_order"] for line in response.json()] == [6.0, 0.0]
    stored = seeded.state.record("RecurringInvoice", invoice["id"])
    assert stored is not None
    assert len(stored["lines"]) == 2
    bad = await post(client, "/api/RecurringInvoice/updatelines", [{"ihid": -99}])
    assert bad.status_code == 400


async def test_invoices_have_positive_ids(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    invoice = (
        await post(client, "/api/Invoice", [{"client_id": 11, "lines": [{"_itemid": 5}]}])
    ).json()
    assert invoice["id"] > 0
    assert invoice["is_recurring_invoice"] is False
    assert invoice["lines"][0]["unit_price"] == 4.5


async def test_delete(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    created = (await post(client, "/api/SoftwareLicence", [{"name": "X", "client_id": 10}])).json()
    deleted = await client.delete(f"/api/SoftwareLicence/{created['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == created["id"]
    assert (
        await client.get(f"/api/SoftwareLicence/{created['id']}", headers=headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/SoftwareLicence/{created['id']}", headers=headers)
    ).status_code == 404


async def test_sites_need_an_existing_client(seeded: Simulator, client: httpx2.AsyncClient) -> None:
    good = await post(client, "/api/Site", [{"name": "Head Office", "client_id": 10}])
    assert good.json()["clientsite_name"] == "Acme Ltd/Head Office"
    assert good.json()["client_id"] == 10.0
    bad = await post(client, "/api/Site", [{"name": "Nowhere", "client_id": 5000}])
    assert bad.status_code == 400


async def test_renamed_client_shows_everywhere(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    licence = (await post(client, "/api/SoftwareLicence", [{"name": "X", "client_id": 10}])).json()
    await post(client, "/api/Client", [{"id": 10, "name": "Acme Holdings Ltd"}])
    again = seeded.state.record("SoftwareLicence", licence["id"])
    assert again is not None
    assert again["client_name"] == "Acme Holdings Ltd"


async def test_posting_back_every_line_as_read_changes_nothing_but_the_stamp(
    seeded: Simulator, client: httpx2.AsyncClient
) -> None:
    """The read-modify-write path: ``GET /RecurringInvoice/{id}``, then ``POST
    /RecurringInvoice [{id, lines: [every line as read]}]`` with one quantity changed; every
    other line (licence-linked ones too) keeps every field, and a line left out is gone."""
    seeded.state.seed(
        {"licences": [{"id": 40, "client_id": 10, "name": "M365", "count": 7, "type": 1}]}
    )
    created = (
        await post(
            client,
            "/api/RecurringInvoice",
            [
                {
                    "client_id": 10,
                    "lines": [
                        {"_itemid": 5, "qty_order": 1, "nominal_code": "4000"},
                        {
                            "_itemid": 6,
                            "recurring_invoice_quantity_type": 1,
                            "quantity_licences": [{"licence_id": 40, "pro_rata": 1}],
                        },
                        {"item_shortdescription": "Consultancy", "qty_order": 2, "unit_price": 90},
                    ],
                }
            ],
        )
    ).json()
    headers = await bearer(client)
    read = (await client.get(f"/api/RecurringInvoice/{created['id']}", headers=headers)).json()
    lines = [dict(line) for line in read["lines"]]
    lines[0]["qty_order"] = 3
    saved = await post(client, "/api/RecurringInvoice", [{"id": read["id"], "lines": lines}])
    assert saved.status_code in (200, 201), saved.text
    again = (await client.get(f"/api/RecurringInvoice/{created['id']}", headers=headers)).json()
    assert again["lines"][0]["qty_order"] == 3.0
    assert again["lines"][1:] == read["lines"][1:]
    changed = {k for k in read["lines"][0] if read["lines"][0][k] != again["lines"][0].get(k)}
    assert changed <= {
        "qty_order",
        "net_amount",
        "net_total",
        "tax_amount",
        "total_price",
        "total_tax",
    }
    assert again["last_modified"] >= read["last_modified"]

    dropped = await post(
        client, "/api/RecurringInvoice", [{"id": read["id"], "lines": again["lines"][1:]}]
    )
    assert [line["id"] for line in dropped.json()["lines"]] == [
        line["id"] for line in again["lines"][1:]
    ]
