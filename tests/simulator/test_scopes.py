"""Permission scopes per entity and verb; 403 names the missing permission."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest

from halosync.simulator import Simulator
from tests.simulator.conftest import bearer, http_client

pytestmark = pytest.mark.anyio

ENTITY_SCOPES = [
    ("Client", "customers"),
    ("Site", "customers"),
    ("Item", "items"),
    ("Invoice", "invoices"),
    ("RecurringInvoice", "invoices"),
    ("ClientContract", "contracts"),
    ("SoftwareLicence", "softwarelicensing"),
]
OTHER = {"customers": "items", "items": "customers", "invoices": "contracts"}


@pytest.mark.parametrize(("entity", "resource"), ENTITY_SCOPES)
async def test_read_scope_reads_but_does_not_write(
    client: httpx2.AsyncClient, entity: str, resource: str
) -> None:
    headers = await bearer(client, scope=f"read:{resource}")
    assert (await client.get(f"/api/{entity}", headers=headers)).status_code == 200
    refused = await client.post(f"/api/{entity}", json=[{}], headers=headers)
    assert refused.status_code == 403
    assert refused.json()["permission"] == f"edit:{resource}"
    assert f"edit:{resource}" in refused.json()["Message"]
    deleted = await client.delete(f"/api/{entity}/1", headers=headers)
    assert deleted.status_code == 403


@pytest.mark.parametrize(("entity", "resource"), ENTITY_SCOPES)
async def test_edit_implies_read(client: httpx2.AsyncClient, entity: str, resource: str) -> None:
    headers = await bearer(client, scope=f"edit:{resource}")
    assert (await client.get(f"/api/{entity}", headers=headers)).status_code == 200
    assert (await client.get(f"/api/{entity}/1", headers=headers)).status_code == 404


@pytest.mark.parametrize(("entity", "resource"), ENTITY_SCOPES)
async def test_other_scopes_do_not_grant(
    client: httpx2.AsyncClient, entity: str, resource: str
) -> None:
    headers = await bearer(client, scope=f"edit:{OTHER.get(resource, 'customers')} read:tickets")
    refused = await client.get(f"/api/{entity}", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["permission"] == f"read:{resource}"


async def test_all_grants_everything(sim: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client, scope="all")
    created = await client.post("/api/Client", json=[{"name": "A Ltd"}], headers=headers)
    assert created.status_code == 201
    for entity, _ in ENTITY_SCOPES:
        assert (await client.get(f"/api/{entity}", headers=headers)).status_code == 200


async def test_detail_endpoints_can_answer_401_for_a_missing_permission(
    make_sim: Callable[..., Simulator],
) -> None:
    # Real Halo answers 401 (not 403) on GET /api/<Entity>/<id> when the module permission
    # is missing; lists and writes keep their 403.
    sim = make_sim(detail_permission_status=401)
    sim.state.seed({"clients": [{"id": 1, "name": "Acme"}]})
    async with http_client(sim) as http:
        headers = await bearer(http, scope="read:items")
        detail = await http.get("/api/Client/1", headers=headers)
        assert detail.status_code == 401
        assert "permission" not in detail.text.lower()
        assert (await http.delete("/api/Client/1", headers=headers)).status_code == 401
        assert (await http.get("/api/Client", headers=headers)).status_code == 403
        assert (await http.post("/api/Client", json=[], headers=headers)).status_code == 403
        # The same token still works where it has the permission.
        assert (await http.get("/api/Item", headers=headers)).status_code == 200
        back = await http.patch("/_simulator/config", json={"detail_permission_status": 403})
        assert back.json()["detail_permission_status"] == 403
        assert (await http.get("/api/Client/1", headers=headers)).status_code == 403
