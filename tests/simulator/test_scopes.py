"""Permission scopes per entity and verb; 403 names the missing permission."""

from __future__ import annotations

import httpx2
import pytest

from halosync.simulator import Simulator
from tests.simulator.conftest import bearer

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
