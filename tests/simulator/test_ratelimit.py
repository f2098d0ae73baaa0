"""Rolling-window rate limit: 429 with Halo's message, optional Retry-After, clock-driven."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from halosync.simulator import Simulator
from tests.simulator.conftest import bearer, http_client

pytestmark = pytest.mark.anyio


async def test_limit_counts_token_and_api_requests(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit=5, rate_window_seconds=300)
    async with http_client(sim) as http:
        headers = await bearer(http)  # request 1
        for _ in range(4):  # requests 2..5
            assert (await http.get("/api/Client", headers=headers)).status_code == 200
        refused = await http.get("/api/Client", headers=headers)
        assert refused.status_code == 429
        assert refused.text == "Rate Limit Reached - 5 Requests per rolling 5 minute window"
        assert "retry-after" not in refused.headers
        token_refused = await http.post("/auth/token", data={"grant_type": "client_credentials"})
        assert token_refused.status_code == 429
        # Control endpoints are never limited.
        assert (await http.get("/_simulator/health")).status_code == 200


async def test_default_message_and_rolling_window(sim: Simulator) -> None:
    async with http_client(sim) as http:
        headers = await bearer(http)
        sim.state.clock.advance(100)
        for _ in range(299):
            await http.get("/api/authinfo")
        refused = await http.get("/api/Item", headers=headers)
        assert refused.status_code == 429
        assert refused.text == "Rate Limit Reached - 300 Requests per rolling 5 minute window"
        # The token request (t=0) leaves the window at t=300; the rest only at t=400.
        sim.state.clock.advance(200)
        assert (await http.get("/api/Item", headers=headers)).status_code == 200
        assert (await http.get("/api/Item", headers=headers)).status_code == 429
        sim.state.clock.advance(100)
        assert (await http.get("/api/Item", headers=headers)).status_code == 200


async def test_retry_after_when_configured(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit=2, rate_window_seconds=60, retry_after_header=True)
    async with http_client(sim) as http:
        headers = await bearer(http)
        await http.get("/api/Client", headers=headers)
        sim.state.clock.advance(15)
        refused = await http.get("/api/Client", headers=headers)
        assert refused.status_code == 429
        assert refused.text == "Rate Limit Reached - 2 Requests per rolling 1 minute window"
        assert refused.headers["retry-after"] == "45"


async def test_refused_requests_are_logged_but_not_counted(
    make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(rate_limit=1, rate_window_seconds=10)
    async with http_client(sim) as http:
        await http.get("/api/authinfo")
        for _ in range(3):
            assert (await http.get("/api/authinfo")).status_code == 429
        sim.state.clock.advance(10)
        assert (await http.get("/api/authinfo")).status_code == 200
    statuses = [entry.status for entry in sim.state.request_log]
    assert statuses == [200, 429, 429, 429, 200]
