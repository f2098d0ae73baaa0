"""Token URL forms, tenant variants, credentials, scopes, expiry, revocation, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from halosync.halopsa.auth import AccessToken
from halosync.halopsa.errors import (
    BadCredentialsError,
    HaloServerError,
    InvalidScopeError,
    InvalidServerUrlError,
    MissingPermissionError,
    TokenEndpointError,
)
from tests.halopsa.conftest import BASE_URL, Halo

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("auth_server_url", "token_path"),
    [
        (None, "/auth/token"),
        ("", "/auth/token"),
        (f"{BASE_URL}/auth/", "/auth/token"),
        (f"{BASE_URL}/auth//", "/auth/token"),
        (f"{BASE_URL}/auth/token", "/auth/token"),
        (f"{BASE_URL}/", "/token"),
    ],
)
async def test_each_token_url_form(
    halo: Halo, auth_server_url: str | None, token_path: str
) -> None:
    async with halo.client(auth_server_url=auth_server_url) as client:
        assert await client.clients() == []
    assert len(halo.requests(token_path, "POST")) == 1
    assert all("//" not in entry.path for entry in halo.app.state.request_log)


async def test_server_given_with_api_suffix(halo: Halo) -> None:
    async with halo.client(server_url=f"{BASE_URL}/api/") as client:
        assert await client.items() == []
    assert len(halo.requests("/api/Item", "GET")) == 1


async def test_wrong_auth_server_is_explained(halo: Halo) -> None:
    async with halo.client(auth_server_url=f"{BASE_URL}/oauth") as client:
        with pytest.raises(InvalidServerUrlError, match="no token endpoint"):
            await client.get_token()


@pytest.mark.parametrize("tenant", ["acme", "ACME", " acme "])
async def test_hosted_tenant_is_sent(make_halo: Callable[..., Halo], tenant: str) -> None:
    halo = make_halo(tenant="acme")
    async with halo.client(tenant=tenant) as client:
        await client.get_token()
    (entry,) = halo.requests("/auth/token")
    assert "tenant=" in entry.query


@pytest.mark.parametrize("tenant", [None, "", "Not set", "None"])
async def test_hosted_instance_without_tenant_explains_html_500(
    make_halo: Callable[..., Halo], tenant: str | None
) -> None:
    halo = make_halo(tenant="acme")
    async with halo.client(tenant=tenant) as client:
        with pytest.raises(TokenEndpointError, match=r"(?i)check the tenant") as caught:
            await client.get_token()
    assert "500" in caught.value.message
    assert caught.value.kind == "configuration"
    # The advice comes at once: a first token request's 500 is not resent.
    assert len(halo.requests("/auth/token")) == 1


@pytest.mark.parametrize("tenant", [None, "", "Not set", "None", "not set"])
async def test_on_premise_tenant_spellings_send_no_tenant(halo: Halo, tenant: str | None) -> None:
    async with halo.client(tenant=tenant) as client:
        await client.get_token()
    (entry,) = halo.requests("/auth/token")
    assert "tenant" not in entry.query


async def test_bad_secret(halo: Halo) -> None:
    async with halo.client(client_secret=SecretStr("wrong-secret")) as c:
        with pytest.raises(BadCredentialsError, match="client ID / client secret") as caught:
            await c.get_token()
    assert caught.value.fix is not None
    assert "View Applications" in caught.value.fix


async def test_unknown_client_id(halo: Halo) -> None:
    async with halo.client(client_id="not-a-client") as client:
        with pytest.raises(BadCredentialsError):
            await client.get_token()


async def test_invalid_scope(halo: Halo) -> None:
    async with halo.client(scopes=("read:actions",)) as client:
        with pytest.raises(InvalidScopeError, match="read:actions"):
            await client.get_token()


async def test_exactly_the_target_scopes_are_requested(halo: Halo) -> None:
    async with halo.client() as client:
        await client.get_token()
        assert set(client.auth.current.scopes if client.auth.current else ()) == {
            "read:customers",
            "read:items",
            "edit:softwarelicensing",
        }


async def test_single_flight_token_under_concurrency(halo: Halo) -> None:
    halo.app.state.seed({"clients": [{"id": 1, "name": "Acme"}]})
    async with halo.client() as client:
        results = await asyncio.gather(*(client.clients() for _ in range(20)))
    assert all(len(r) == 1 for r in results)
    assert len(halo.requests("/auth/token")) == 1


async def test_token_refreshed_before_expiry(make_halo: Callable[..., Halo]) -> None:
    halo = make_halo(token_lifetime_seconds=600)
    async with halo.client(refresh_margin_seconds=60) as client:
        await client.items()
        halo.clock.base.advance(545)
        await client.items()
    assert len(halo.requests("/auth/token")) == 2
    assert not [e for e in halo.app.state.request_log if e.status == 401]


async def test_a_short_lived_token_is_not_fetched_before_every_request(
    make_halo: Callable[..., Halo],
) -> None:
    # A lifetime below the 2-minute margin: the margin shrinks to a quarter of the lifetime,
    # so the token serves 67 of its 90 seconds instead of none.
    halo = make_halo(token_lifetime_seconds=90)
    async with halo.client() as client:
        for _ in range(7):
            await client.items()
            halo.clock.base.advance(10)
        assert len(halo.requests("/auth/token")) == 1
        halo.clock.base.advance(5)  # 75 s old: past 90 - 90/4
        await client.items()
    assert len(halo.requests("/auth/token")) == 2
    assert not [e for e in halo.app.state.request_log if e.status == 401]


async def test_expired_token_gets_one_retry(make_halo: Callable[..., Halo]) -> None:
    halo = make_halo(token_lifetime_seconds=600)
    async with halo.client(refresh_margin_seconds=0) as client:
        await client.items()
        halo.clock.base.advance(601)
        # The client still trusts its token for a moment; Halo says 401, one fresh token.
        stale = client.auth.current
        assert stale is not None
        client.auth._token = AccessToken(stale.value, halo.clock.now() + 10)
        await client.items()
    statuses = [e.status for e in halo.requests("/api/Item")]
    assert statuses == [200, 401, 200]
    assert len(halo.requests("/auth/token")) == 2


async def test_revocation_mid_run_with_concurrency(halo: Halo) -> None:
    async with halo.client() as client:
        await client.items()
        halo.app.state.revoke_tokens()
        await asyncio.gather(*(client.items() for _ in range(10)))
    assert len(halo.requests("/auth/token")) == 2
    ok = [e for e in halo.requests("/api/Item") if e.status == 200]
    assert len(ok) == 11


async def test_token_html_500_mid_run_is_retried_like_any_5xx(
    make_halo: Callable[..., Halo],
) -> None:
    halo = make_halo(tenant="acme")
    async with halo.client(tenant="acme") as client:
        await client.items()
        halo.app.state.revoke_tokens()
        halo.app.state.faults.inject("html_error", method="POST", path="/auth/token")
        assert await client.items() == []
    assert [e.status for e in halo.requests("/auth/token")] == [200, 500, 200]


async def test_persistent_token_500_mid_run_is_retryable_not_set_up_advice(halo: Halo) -> None:
    async with halo.client() as client:
        await client.items()
        halo.app.state.revoke_tokens()
        halo.app.state.faults.inject("html_error", method="POST", path="/auth/token", times=None)
        with pytest.raises(HaloServerError) as caught:
            await client.items()
    assert caught.value.kind == "retryable"
    assert caught.value.status == 500
    assert "check the tenant" not in str(caught.value).lower()
    # The first request, then every attempt the retry policy allows.
    assert len(halo.requests("/auth/token")) == 1 + 4


async def test_a_tested_connection_retries_even_its_first_token_500(halo: Halo) -> None:
    halo.app.state.faults.inject("html_error", method="POST", path="/auth/token")
    async with halo.client(issued_token_before=True) as client:
        assert await client.items() == []
    assert [e.status for e in halo.requests("/auth/token")] == [500, 200]


async def test_401_after_a_fresh_token_names_the_missing_permission(
    make_halo: Callable[..., Halo],
) -> None:
    # Real Halo answers 401, not 403, on detail endpoints when a module permission is
    # missing: after one fresh token that is a permission problem, not a bad token.
    halo = make_halo(app_scopes=("read:customers", "read:items"), detail_permission_status=401)
    async with halo.client() as client:
        with pytest.raises(MissingPermissionError) as caught:
            await client.get_record("SoftwareLicence", 5)
    error = caught.value
    assert error.kind == "configuration"
    assert [p.scope for p in error.permissions] == ["read:softwarelicensing"]
    assert "read:softwarelicensing" in error.message
    assert error.fix is not None
    assert "Permissions" in error.fix
    assert [e.status for e in halo.requests("/api/SoftwareLicence/5")] == [401, 401]
    assert len(halo.requests("/auth/token")) == 2
