"""A generic Halo client written only from Halo's public facts works against the simulator.

It knows: OAuth2 client credentials as a form post to ``<server>/auth/token`` (tenant in
the query string or the form), bearer calls to ``/api/<Entity>``, paging with
``pageinate``/``page_size``/``page_no`` until ``record_count`` rows are read, an unpaged
answer that is ``{record_count, <key>}`` and nothing else (so "the key that is not
``record_count``" is the list), array POSTs that create (no id) or update (with id), and
400 bodies that name the field at the top level (``{"[0].id": [...]}``, as n8n reads them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread

CLIENT_ID = "3f1c2b9a-7d6e-4c5b-8a9f-0e1d2c3b4a59"
CLIENT_SECRET = "9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4-1a2b3c4d-5e6f-7a8b-9c0d-e1f2a3b4c5d6"
TENANT = "contoso"


class GenericHaloClient:
    """What any third-party integration does, with nothing simulator-specific."""

    def __init__(self, server: str, tenant_in: str) -> None:
        self.http = httpx2.Client(base_url=server, timeout=10)
        self.tenant_in = tenant_in
        self.headers: dict[str, str] = {}

    def __enter__(self) -> GenericHaloClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def connect(self, scopes: str) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": scopes,
        }
        params = {}
        if self.tenant_in == "query":
            params["tenant"] = TENANT
        else:
            form["tenant"] = TENANT
        response = self.http.post("/auth/token", params=params, data=form)
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def list_all(self, entity: str, key: str, **params: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page_no = 1
        while True:
            response = self.http.get(
                f"/api/{entity}",
                params={"pageinate": "true", "page_size": 50, "page_no": page_no, **params},
                headers=self.headers,
            )
            response.raise_for_status()
            body = response.json()
            rows.extend(body[key])
            if len(rows) >= body["record_count"] or not body[key]:
                return rows
            page_no += 1

    def list_unpaged(self, entity: str, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get(f"/api/{entity}", params=params, headers=self.headers)
        response.raise_for_status()
        body = response.json()
        # Halo's unpaged answer holds the count and the list: the list is the other key.
        key = next(name for name in body if name != "record_count")
        rows: list[dict[str, Any]] = body[key]
        return rows

    def field_error(self, response: httpx2.Response) -> str:
        """Halo's 400 for a bad id, read where n8n's HaloPSA node reads it."""
        assert response.status_code == 400
        body = response.json()
        messages = body.get("id") or body.get("[0].id")
        assert isinstance(messages, list), body
        return str(messages[0])

    def get(self, entity: str, record_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/{entity}/{record_id}", headers=self.headers)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def save(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"/api/{entity}", json=[record], headers=self.headers)
        response.raise_for_status()
        body = response.json()
        saved: dict[str, Any] = body[0] if isinstance(body, list) else body
        return saved


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = create_app(
        SimulatorConfig(
            applications=[
                ApiApplication(
                    CLIENT_ID,
                    CLIENT_SECRET,
                    ("read:customers", "read:items", "read:invoices", "edit:softwarelicensing"),
                )
            ],
            tenant=TENANT,
        )
    )
    app.state.seed(generate_demo_seed(clients=120, seed=11))
    with serve_in_thread(app) as url:
        yield url


@pytest.mark.parametrize("tenant_in", ["query", "form"])
def test_generic_client_round_trip(server: str, tenant_in: str) -> None:
    with GenericHaloClient(server, tenant_in) as halo:
        _round_trip(halo)


def _round_trip(halo: GenericHaloClient) -> None:
    halo.connect("read:customers read:items read:invoices edit:softwarelicensing")

    clients = halo.list_all("Client", "clients")
    assert len(clients) > 100
    assert len({row["id"] for row in clients}) == len(clients)
    items = halo.list_all("Item", "items")
    assert any(item["name"] == "Endpoint Protection" for item in items)

    invoices = halo.list_all("RecurringInvoice", "invoices")
    assert invoices
    assert all(row["id"] < 0 for row in invoices)
    invoice = halo.get("RecurringInvoice", invoices[0]["id"])
    assert invoice["lines"]
    line = invoice["lines"][0]
    assert {"_itemid", "qty_order", "unit_price", "unit_cost"} <= set(line)
    with_lines = halo.list_all("RecurringInvoice", "invoices", includelines="true")
    assert all("lines" in row for row in with_lines)

    item = next(item for item in items if item["name"] == "Email Security Gateway")
    client = clients[0]
    created = halo.save(
        "SoftwareLicence",
        {
            "name": item["name"],
            "client_id": client["id"],
            "item_id": item["id"],
            "count": 25,
            "price": 68.75,
            "purchase_price": 30.0,
            "billing_cycle": "Monthly",
            "term_duration": "Annual",
            "status": "Active",
            "start_date": "2025-01-01T00:00:00",
            "end_date": "1901-01-01T00:00:00",
        },
    )
    assert created["id"] > 0
    updated = halo.save("SoftwareLicence", {"id": created["id"], "count": 30})
    assert updated["count"] == 30
    assert updated["price"] == 68.75
    mine = halo.list_all("SoftwareLicence", "licences", client_id=client["id"])
    assert [row["count"] for row in mine if row["id"] == created["id"]] == [30]

    few = halo.list_unpaged("Client", count=5)
    assert [row["id"] for row in few] == [row["id"] for row in clients[:5]]
    assert all("name" in row for row in few)
    unknown = halo.http.post(
        "/api/SoftwareLicence", json=[{"id": 987654, "count": 1}], headers=halo.headers
    )
    assert "987654" in halo.field_error(unknown)
    not_a_number = halo.http.post(
        "/api/SoftwareLicence", json=[{"id": "abc", "count": 1}], headers=halo.headers
    )
    assert "abc" in halo.field_error(not_a_number)

    refused = halo.http.post("/api/Client", json=[{"name": "X"}], headers=halo.headers)
    assert refused.status_code == 403
    assert "edit:customers" in refused.text
