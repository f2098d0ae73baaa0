"""The REST API for feeding usage in: auth, validation, idempotency, paging."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from halosync.store.tokens import ApiTokenRepository
from tests.web.api.conftest import Api

BATCH: dict[str, Any] = {
    "accounts": [
        {"ref": "A1", "name": "Acme Ltd", "status": "active", "billed": True},
        {"ref": "A2", "name": "Beta Inc", "status": "trial", "billed": False},
    ],
    "services": [{"ref": "S1", "name": "Email Security"}],
    "subscriptions": [
        {
            "account_ref": "A1",
            "service_ref": "S1",
            "quantity": 10,
            "start_date": "2024-01-01",
            "end_date": None,
            "billing_cycle": "monthly",
            "term": "12 months",
            "status": "active",
            "cost_price": "50.00",
            "customer_price": 80,
        },
        {
            "account_ref": "A2",
            "service_ref": "S1",
            "quantity": 2,
            "start_date": "2024-02-01",
            "billing_cycle": "monthly",
            "term": "12 months",
        },
    ],
}


@pytest.fixture
def api(any_database_api: Api) -> Api:
    """Each test on SQLite and again on PostgreSQL."""
    return any_database_api


def test_upsert_then_repeat_changes_nothing(api: Api) -> None:
    first = api.post("usage", json=BATCH)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["workspace"] == "acme"
    assert body["subscriptions"] == {"created": 2, "updated": 0, "unchanged": 0}
    again = api.post("usage", json=BATCH).json()
    assert again["subscriptions"] == {"created": 0, "updated": 0, "unchanged": 2}
    subs = api.get("subscriptions").json()
    assert subs["total"] == 2
    assert subs["items"][0]["cost_price"] == "50.0000"
    assert subs["items"][0]["customer_price"] == "80.0000"


def test_a_count_sent_alone_keeps_the_price_status_and_account(api: Api) -> None:
    """A delta upsert: what a subscription or account leaves out is kept, null clears."""
    assert api.post("usage", json=BATCH).status_code == 200
    keys = ("account_ref", "service_ref", "start_date", "billing_cycle", "term")
    count_only = {name: BATCH["subscriptions"][0][name] for name in keys} | {"quantity": 12}
    delta = {"accounts": [{"ref": "A1", "billed": False}], "subscriptions": [count_only]}
    first = api.post("usage", json=delta).json()
    assert (first["accounts"]["updated"], first["subscriptions"]["updated"]) == (1, 1)
    again = api.post("usage", json=delta).json()
    assert again["subscriptions"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert again["accounts"] == {"created": 0, "updated": 0, "unchanged": 1}
    item = api.get("subscriptions", params={"account_ref": "A1"}).json()["items"][0]
    assert (item["quantity"], item["status"], item["cost_price"], item["customer_price"]) == (
        12,
        "active",
        "50.0000",
        "80.0000",
    )
    assert api.get("accounts").json()["items"][0] == {
        "ref": "A1",
        "name": "Acme Ltd",
        "status": "active",
        "billed": False,
    }
    cleared = dict(delta, subscriptions=[count_only | {"customer_price": None}])
    assert api.post("usage", json=cleared).json()["subscriptions"]["updated"] == 1
    item = api.get("subscriptions", params={"account_ref": "A1"}).json()["items"][0]
    assert (item["cost_price"], item["customer_price"]) == ("50.0000", None)


def test_a_bad_batch_changes_nothing_and_names_each_item(api: Api) -> None:
    bad = copy.deepcopy(BATCH)
    bad["subscriptions"][1]["quantity"] = -1
    bad["accounts"][0]["status"] = "gone"
    response = api.post("usage", json=bad)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["location"] for e in errors} == {
        "$.accounts[0].status",
        "$.subscriptions[1].quantity",
    }
    assert api.get("accounts").json()["total"] == 0


def test_unknown_reference_is_a_422_with_path(api: Api) -> None:
    body = {"subscriptions": [dict(BATCH["subscriptions"][0], service_ref="NOPE")]}
    body["accounts"] = BATCH["accounts"]
    response = api.post("usage", json=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "location": "$.subscriptions[0].service_ref",
            "message": "no service 'NOPE' in this batch or in the workspace",
        }
    ]
    assert api.get("accounts").json()["total"] == 0


def test_authentication_and_workspace_isolation(api: Api) -> None:
    no_token = api.post("usage", json=BATCH, token="")
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    assert api.post("usage", json=BATCH, token="hs_wrong").status_code == 401
    # Another workspace's token sees nothing, not even that acme exists.
    assert api.post("usage", json=BATCH, token=api.other_admin).status_code == 404
    assert api.get("accounts", token=api.other_admin).status_code == 404
    assert api.get("/api/v1/workspaces/nope/accounts").status_code == 404
    assert api.get("accounts").status_code == 200
    by_id = api.get(f"/api/v1/workspaces/{api.acme}/accounts")
    assert by_id.status_code == 200


def test_viewer_tokens_read_but_cannot_write(api: Api) -> None:
    assert api.post("usage", json=BATCH, token=api.viewer).status_code == 403
    assert api.get("accounts", token=api.viewer).status_code == 200
    assert api.get("accounts").json()["total"] == 0


def test_revoked_token_stops_working(api: Api) -> None:
    with api.database.session() as session:
        repo = ApiTokenRepository(session, api.acme)
        repo.revoke(repo.list()[0].id)
    assert api.get("accounts").status_code == 401


def test_idempotency_key_replays_and_refuses_a_different_body(api: Api) -> None:
    first = api.post("usage", json=BATCH, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 200
    replay = api.post("usage", json=BATCH, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 200
    assert replay.json() == first.json()  # created counts again: nothing was re-applied
    assert replay.headers["Idempotent-Replayed"] == "true"
    changed = copy.deepcopy(BATCH)
    changed["subscriptions"][0]["quantity"] = 11
    conflict = api.post("usage", json=changed, headers={"Idempotency-Key": "k-1"})
    assert conflict.status_code == 409
    assert "different request body" in conflict.json()["detail"]
    subs = api.get("subscriptions").json()["items"]
    assert subs[0]["quantity"] == 10


def test_paging(api: Api) -> None:
    body = {
        "accounts": [
            {"ref": f"A{i:03}", "name": f"N{i}", "status": "active", "billed": True}
            for i in range(25)
        ]
    }
    assert api.post("usage", json=body).status_code == 200
    page = api.get("accounts?page=2&page_size=10").json()
    assert page["total"] == 25
    assert [a["ref"] for a in page["items"]] == [f"A{i:03}" for i in range(10, 20)]
    assert api.get("accounts?page_size=0").status_code == 422
    assert api.get("accounts?page_size=501").status_code == 422


def test_non_object_body_and_openapi(api: Api) -> None:
    response = api.post("usage", json=[1, 2])
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "$"
    schema = api.get("/openapi.json", token="").json()
    assert "/api/v1/workspaces/{workspace}/usage" in schema["paths"]
    assert api.get("/docs", token="").status_code == 200


def test_authentication_comes_before_validation(api: Api) -> None:
    response = api.post("usage", json={"accounts": "x"}, token="")
    assert response.status_code == 401
    assert api.post("usage", json={"accounts": "x"}, token=api.viewer).status_code == 403


def test_fractional_counts_go_in_exactly_and_come_out_as_json_numbers(api: Api) -> None:
    body = copy.deepcopy(BATCH)
    body["services"].append({"ref": "S2", "name": "Storage GB"})
    body["subscriptions"][0]["quantity"] = 2.5
    body["subscriptions"][1]["quantity"] = "7"
    body["subscriptions"].append(dict(BATCH["subscriptions"][0], service_ref="S2", quantity="12.4"))
    first = api.post("usage", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["subscriptions"] == {"created": 3, "updated": 0, "unchanged": 0}
    items = api.get("subscriptions").json()["items"]
    assert [(s["account_ref"], s["service_ref"], s["quantity"]) for s in items] == [
        ("A1", "S1", 2.5),
        ("A1", "S2", 12.4),
        ("A2", "S1", 7),
    ]
    assert isinstance(items[2]["quantity"], int)
    body["subscriptions"][0]["quantity"] = "2.50"
    body["subscriptions"][2]["quantity"] = 12.4
    again = api.post("usage", json=body).json()
    assert again["subscriptions"] == {"created": 0, "updated": 0, "unchanged": 3}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("2.50001", "2.50001"),
        ('"2,5"', '"2,5"'),
        ("-0.5", "-0.5"),
        ("NaN", "nan"),
        ("Infinity", "inf"),
        ("1e400", "inf"),
    ],
)
def test_a_count_that_is_not_an_exact_decimal_is_refused_with_its_path(
    api: Api, raw: str, shown: str
) -> None:
    import json

    body = json.dumps(BATCH).replace('"quantity": 2,', f'"quantity": {raw},')
    assert raw in body
    response = api.post(
        "usage", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["location"] == "$.subscriptions[1].quantity"
    assert error["message"].startswith("must be a number from 0 to 2147483647 with at most 4")
    assert api.get("subscriptions").json()["total"] == 0
