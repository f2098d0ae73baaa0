"""Token endpoint, tenants, credentials, scopes, expiry, revocation and discovery."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx2
import pytest

from halosync.simulator import Simulator
from tests.simulator.conftest import (
    ADMIN_ID,
    ADMIN_SECRET,
    LICENCE_ID,
    LICENCE_SECRET,
    bearer,
    http_client,
    token,
)

pytestmark = pytest.mark.anyio

FORM = {"grant_type": "client_credentials", "client_id": ADMIN_ID, "client_secret": ADMIN_SECRET}


async def test_token_response_has_halo_fields(client: httpx2.AsyncClient) -> None:
    response = await client.post("/auth/token", data={**FORM, "scope": "all"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "all"
    assert {"refresh_token", "id_token"} <= set(body)
    payload = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["scope"] == ["all"]
    assert claims["exp"] - claims["iat"] == 3600


async def test_basic_client_authentication(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "scope": "all"},
        auth=(ADMIN_ID, ADMIN_SECRET),
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [(ADMIN_ID, "wrong"), ("unknown-client", ADMIN_SECRET), (ADMIN_ID, "")],
)
async def test_bad_credentials_are_invalid_client(
    client: httpx2.AsyncClient, client_id: str, secret: str
) -> None:
    response = await client.post(
        "/auth/token",
        data={**FORM, "client_id": client_id, "client_secret": secret, "scope": "all"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert ADMIN_SECRET not in response.text


async def test_unknown_scope_is_invalid_scope(client: httpx2.AsyncClient) -> None:
    response = await client.post("/auth/token", data={**FORM, "scope": "read:actions"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "read:actions" in response.json()["error_description"]


async def test_other_grant_types_and_json_bodies_are_refused(client: httpx2.AsyncClient) -> None:
    wrong_grant = await client.post("/auth/token", data={**FORM, "grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    as_json = await client.post("/auth/token", json={**FORM, "scope": "all"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


@pytest.mark.parametrize("where", ["query", "form"])
async def test_hosted_tenant_in_query_or_form(
    make_sim: Callable[..., Simulator], where: str
) -> None:
    sim = make_sim(tenant="acme")
    async with http_client(sim) as http:
        if where == "query":
            response = await http.post(
                "/auth/token", params={"tenant": "acme"}, data={**FORM, "scope": "all"}
            )
        else:
            response = await http.post(
                "/auth/token", data={**FORM, "scope": "all", "tenant": "acme"}
            )
    assert response.status_code == 200


@pytest.mark.parametrize("tenant", [None, "other"])
async def test_hosted_tenant_missing_or_wrong_is_html_500(
    make_sim: Callable[..., Simulator], tenant: str | None
) -> None:
    sim = make_sim(tenant="acme")
    params = {"tenant": tenant} if tenant else {}
    async with http_client(sim) as http:
        response = await http.post("/auth/token", params=params, data={**FORM, "scope": "all"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Sorry, something went wrong" in response.text


async def test_on_premise_ignores_a_tenant(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/auth/token", params={"tenant": "whatever"}, data={**FORM, "scope": "all"}
    )
    assert response.status_code == 200


async def test_shared_auth_host_token_path(client: httpx2.AsyncClient) -> None:
    response = await client.post("/token", data={**FORM, "scope": "all"})
    assert response.status_code == 200


async def test_token_expires_with_the_clock(sim: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    assert (await client.get("/api/Client", headers=headers)).status_code == 200
    sim.state.clock.advance(3599)
    assert (await client.get("/api/Client", headers=headers)).status_code == 200
    sim.state.clock.advance(1)
    expired = await client.get("/api/Client", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.headers["www-authenticate"]


async def test_token_lifetime_is_configurable(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(token_lifetime_seconds=60)
    async with http_client(sim) as http:
        response = await http.post("/auth/token", data={**FORM, "scope": "all"})
        assert response.json()["expires_in"] == 60
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        sim.state.clock.advance(61)
        assert (await http.get("/api/Item", headers=headers)).status_code == 401


async def test_revocation_and_restart(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.seed({"clients": [{"name": "Kept Ltd"}]})
    headers = await bearer(client)
    sim.state.revoke_tokens()
    assert (await client.get("/api/Client", headers=headers)).status_code == 401
    headers = await bearer(client)
    sim.state.restart()
    assert (await client.get("/api/Client", headers=headers)).status_code == 401
    headers = await bearer(client)
    listed = (await client.get("/api/Client", headers=headers)).json()
    assert [row["name"] for row in listed["clients"]] == ["Kept Ltd"]


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
async def test_calls_without_a_valid_token_get_401(
    client: httpx2.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/Client", headers=headers)
    assert response.status_code == 401


async def test_a_token_without_scope_is_refused_on_every_call(client: httpx2.AsyncClient) -> None:
    headers = await bearer(client, scope=None)
    response = await client.get("/api/Client", headers=headers)
    assert response.status_code == 403


async def test_scopes_the_application_lacks_are_not_granted(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/auth/token",
        data={
            **FORM,
            "client_id": LICENCE_ID,
            "client_secret": LICENCE_SECRET,
            "scope": "read:customers edit:invoices",
        },
    )
    assert response.json()["scope"] == "read:customers"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    refused = await client.get("/api/RecurringInvoice", headers=headers)
    assert refused.status_code == 403
    assert "read:invoices" in refused.text


async def test_discovery_endpoints_are_anonymous(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(tenant="acme")
    async with http_client(sim) as http:
        info = (await http.get("/api/authinfo")).json()
        instance = await http.get("/api/InstanceInfo")
    assert info["auth_url"] == "http://halo.test/auth"
    assert info["tenant_id"] == "acme"
    assert instance.json()["app_name"] == "Halo PSA"
    assert instance.json()["auth_url"] == info["auth_url"]


async def test_on_premise_authinfo_has_no_tenant(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/api/AuthInfo")).json()["tenant_id"] == ""


async def test_token_endpoint_only_takes_post(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/auth/token")).status_code == 405


async def test_token_by_helper(client: httpx2.AsyncClient) -> None:
    assert await token(client, LICENCE_ID, LICENCE_SECRET, scope="read:customers")
