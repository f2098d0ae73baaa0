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
    sim = make_sim(rate_limit=2, rate_window_seconds=60, retry_after="auto")
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


@pytest.mark.parametrize(
    "value", ["86400", "0", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon, maybe", "1e9"]
)
async def test_fixed_retry_after_is_sent_as_given(
    make_sim: Callable[..., Simulator], value: str
) -> None:
    # A misbehaving server is part of what the simulator imitates: any header text goes out.
    sim = make_sim(rate_limit=1, retry_after=value)
    async with http_client(sim) as http:
        await http.get("/api/authinfo")
        refused = await http.get("/api/authinfo")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == value


async def test_injected_429_carries_the_configured_retry_after(
    make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(retry_after="120")
    sim.state.faults.inject("rate_limit", path="/api/authinfo")
    async with http_client(sim) as http:
        refused = await http.get("/api/authinfo")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "120"


@pytest.mark.parametrize("value", ["", "1\r\nSet-Cookie: x=1", "x" * 201])
def test_retry_after_must_be_a_safe_header_value(
    make_sim: Callable[..., Simulator], value: str
) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        make_sim(retry_after=value)


async def test_control_api_changes_window_limit_and_retry_after(sim: Simulator) -> None:
    async with http_client(sim) as http:
        shown = (await http.get("/_simulator/config")).json()
        assert shown == {
            "rate_limit": 300,
            "rate_window_seconds": 300.0,
            "retry_after": None,
            "detail_permission_status": 403,
        }
        changed = await http.patch(
            "/_simulator/config",
            json={"rate_limit": 1, "rate_window_seconds": 60, "retry_after": 86400},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["retry_after"] == "86400"
        await http.get("/api/authinfo")
        refused = await http.get("/api/authinfo")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "86400"
        assert refused.text == "Rate Limit Reached - 1 Requests per rolling 1 minute window"
        auto = await http.patch("/_simulator/config", json={"retry_after": "auto"})
        assert auto.json()["retry_after"] == "auto"
        assert (await http.get("/api/authinfo")).headers["retry-after"] == "60"
        off = await http.patch("/_simulator/config", json={"retry_after": None})
        assert off.json()["retry_after"] is None
        assert "retry-after" not in (await http.get("/api/authinfo")).headers
        state = (await http.get("/_simulator/state")).json()
        assert state["rate_limit"]["window_seconds"] == 60


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate_limit": 0}, "rate_limit must be at least 1"),
        ({"rate_window_seconds": -1}, "rate_window_seconds must be positive"),
        ({"retry_after": "a\nb"}, "retry_after"),
        ({"retry_after": True}, "retry_after"),
        ({"detail_permission_status": 500}, "detail_permission_status must be 401 or 403"),
        ({"colour": "blue"}, "unknown setting(s): colour"),
    ],
)
async def test_control_api_refuses_bad_settings_and_changes_nothing(
    sim: Simulator, body: dict[str, object], message: str
) -> None:
    async with http_client(sim) as http:
        refused = await http.patch("/_simulator/config", json={"rate_limit": 7, **body})
        assert refused.status_code == 400
        assert message in refused.json()["Message"]
        assert (await http.get("/_simulator/config")).json()["rate_limit"] == 300
