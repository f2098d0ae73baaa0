"""A simulated Halo per test and an httpx2 client talking HTTP to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app

BASE_URL = "http://halo.test"
ADMIN_ID = "8b0f6a52-3c1e-4d7a-9e2b-5f4c3a2b1d00"
ADMIN_SECRET = "11111111-2222-3333-4444-555555555555-66666666-7777-8888-9999-000000000000"
LICENCE_ID = "licence-app"
LICENCE_SECRET = "licence-secret-value"
LICENCE_SCOPES = ("read:customers", "read:items", "edit:softwarelicensing")


def applications() -> list[ApiApplication]:
    return [
        ApiApplication(ADMIN_ID, ADMIN_SECRET, ("all",)),
        ApiApplication(LICENCE_ID, LICENCE_SECRET, LICENCE_SCOPES),
    ]


@pytest.fixture
def make_sim() -> Callable[..., Simulator]:
    """``make_sim(**SimulatorConfig fields)`` with the two test applications."""

    def make(**config: Any) -> Simulator:
        return create_app(SimulatorConfig(applications=applications(), **config))

    return make


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


def http_client(app: Simulator) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE_URL)


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    async with http_client(sim) as http:
        yield http


async def token(
    http: httpx2.AsyncClient,
    client_id: str = ADMIN_ID,
    secret: str = ADMIN_SECRET,
    scope: str | None = "all",
    **extra: str,
) -> str:
    """Get an access token the way Halo's docs describe (form post)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    if scope is not None:
        form["scope"] = scope
    form.update(extra)
    response = await http.post("/auth/token", data=form)
    assert response.status_code == 200, response.text
    access_token = response.json()["access_token"]
    assert isinstance(access_token, str)
    return access_token


async def bearer(http: httpx2.AsyncClient, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(http, **kwargs)}"}
