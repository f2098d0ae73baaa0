"""The REST API for feeding usage in: auth, validation, idempotency, paging."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.web.app import create_app

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


class Api:
    """A test client plus the tokens of two workspaces."""

    def __init__(self, client: TestClient, database: Database) -> None:
        self.client = client
        self.database = database
        with database.session() as session:
            repo = WorkspaceRepository(session)
            self.acme = repo.create("acme").id
            self.other = repo.create("other").id
            self.admin = ApiTokenRepository(session, self.acme).create("ci").token
            self.viewer = ApiTokenRepository(session, self.acme).create("ro", "viewer").token
            self.other_admin = ApiTokenRepository(session, self.other).create("x").token

    def post(self, body: Any, token: str | None = None, **headers: str) -> Any:
        all_headers = {"Authorization": f"Bearer {token or self.admin}", **headers}
        return self.client.post("/api/v1/workspaces/acme/usage", json=body, headers=all_headers)

    def get(self, path: str, token: str | None = None) -> Any:
        return self.client.get(
            f"/api/v1/workspaces/acme/{path}",
            headers={"Authorization": f"Bearer {token or self.admin}"},
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    settings = Settings()
    if request.param == "sqlite":
        database = Database.from_settings(settings)
    else:
        database = Database(request.getfixturevalue("pg_schema_url"))
    app = create_app(settings, database=database)
    with TestClient(app) as client:
        yield Api(client, database)
    database.dispose()


def test_upsert_then_repeat_changes_nothing(api: Api) -> None:
    first = api.post(BATCH)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["workspace"] == "acme"
    assert body["subscriptions"] == {"created": 2, "updated": 0, "unchanged": 0}
    again = api.post(BATCH).json()
    assert again["subscriptions"] == {"created": 0, "updated": 0, "unchanged": 2}
    subs = api.get("subscriptions").json()
    assert subs["total"] == 2
    assert subs["items"][0]["cost_price"] == "50.0000"
    assert subs["items"][0]["customer_price"] == "80.0000"


def test_a_bad_batch_changes_nothing_and_names_each_item(api: Api) -> None:
    bad = copy.deepcopy(BATCH)
    bad["subscriptions"][1]["quantity"] = -1
    bad["accounts"][0]["status"] = "gone"
    response = api.post(bad)
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
    response = api.post(body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "location": "$.subscriptions[0].service_ref",
            "message": "no service 'NOPE' in this batch or in the workspace",
        }
    ]
    assert api.get("accounts").json()["total"] == 0


def test_authentication_and_workspace_isolation(api: Api) -> None:
    no_token = api.client.post("/api/v1/workspaces/acme/usage", json=BATCH)
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    assert api.post(BATCH, token="hs_wrong").status_code == 401
    # Another workspace's token sees nothing, not even that acme exists.
    assert api.post(BATCH, token=api.other_admin).status_code == 404
    assert api.get("accounts", token=api.other_admin).status_code == 404
    assert (
        api.client.get(
            "/api/v1/workspaces/nope/accounts", headers={"Authorization": f"Bearer {api.admin}"}
        ).status_code
        == 404
    )
    assert api.get("accounts").status_code == 200
    by_id = api.client.get(
        f"/api/v1/workspaces/{api.acme}/accounts", headers={"Authorization": f"Bearer {api.admin}"}
    )
    assert by_id.status_code == 200


def test_viewer_tokens_read_but_cannot_write(api: Api) -> None:
    assert api.post(BATCH, token=api.viewer).status_code == 403
    assert api.get("accounts", token=api.viewer).status_code == 200
    assert api.get("accounts").json()["total"] == 0


def test_revoked_token_stops_working(api: Api) -> None:
    with api.database.session() as session:
        repo = ApiTokenRepository(session, api.acme)
        repo.revoke(repo.list()[0].id)
    assert api.get("accounts").status_code == 401


def test_idempotency_key_replays_and_refuses_a_different_body(api: Api) -> None:
    first = api.post(BATCH, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 200
    replay = api.post(BATCH, **{"Idempotency-Key": "k-1"})
    assert replay.status_code == 200
    assert replay.json() == first.json()  # created counts again: nothing was re-applied
    assert replay.headers["Idempotent-Replayed"] == "true"
    changed = copy.deepcopy(BATCH)
    changed["subscriptions"][0]["quantity"] = 11
    conflict = api.post(changed, **{"Idempotency-Key": "k-1"})
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
    assert api.post(body).status_code == 200
    page = api.get("accounts?page=2&page_size=10").json()
    assert page["total"] == 25
    assert [a["ref"] for a in page["items"]] == [f"A{i:03}" for i in range(10, 20)]
    assert api.get("accounts?page_size=0").status_code == 422
    assert api.get("accounts?page_size=501").status_code == 422


def test_non_object_body_and_openapi(api: Api) -> None:
    response = api.post([1, 2])
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "$"
    schema = api.client.get("/openapi.json").json()
    assert "/api/v1/workspaces/{workspace}/usage" in schema["paths"]
    assert api.client.get("/docs").status_code == 200


def test_authentication_comes_before_validation(api: Api) -> None:
    response = api.client.post("/api/v1/workspaces/acme/usage", json={"accounts": "x"})
    assert response.status_code == 401
    assert api.post({"accounts": "x"}, token=api.viewer).status_code == 403
