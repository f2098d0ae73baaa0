"""Injected faults in-process, by-hand edits, and the request log."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx2
import pytest

from halosync.simulator import DroppedConnection, FaultKind, Simulator
from tests.simulator.conftest import bearer, http_client

pytestmark = pytest.mark.anyio


async def test_error_500_json_then_recovers(sim: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    sim.state.faults.inject("error", method="GET", path="/api/client*", times=2)
    for _ in range(2):
        failed = await client.get("/api/Client", headers=headers)
        assert failed.status_code == 500
        assert failed.json()["Message"] == "Internal Server Error"
    assert (await client.get("/api/Client", headers=headers)).status_code == 200


async def test_plain_and_html_500(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.faults.inject(FaultKind.ERROR_PLAIN, path="/api/item")
    sim.state.faults.inject(FaultKind.HTML_ERROR, path="/auth/token")
    # Faults fire before authentication, as a failing Halo front end would.
    plain = await client.get("/api/Item")
    assert plain.status_code == 500
    assert plain.text == "Internal Server Error"
    html = await client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert html.status_code == 500
    assert "Sorry, something went wrong" in html.text


async def test_faults_target_method_and_path(sim: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    sim.state.faults.inject("error", method="POST", path="/api/softwarelicence", times=None)
    assert (await client.get("/api/SoftwareLicence", headers=headers)).status_code == 200
    assert (await client.get("/api/Client", headers=headers)).status_code == 200
    posted = await client.post("/api/SoftwareLicence", json=[{}], headers=headers)
    assert posted.status_code == 500
    assert (
        await client.post("/api/SoftwareLicence", json=[{}], headers=headers)
    ).status_code == 500
    sim.state.faults.clear()
    assert (
        await client.post("/api/SoftwareLicence", json=[{}], headers=headers)
    ).status_code == 400


async def test_probability_is_seeded(make_sim: Callable[..., Simulator]) -> None:
    async def pattern() -> list[int]:
        sim = make_sim(fault_seed=7)
        sim.state.faults.inject("error", path="/api/authinfo", times=None, probability=0.5)
        async with http_client(sim) as http:
            return [(await http.get("/api/authinfo")).status_code for _ in range(40)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 5 < first.count(500) < 35


async def test_latency(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.faults.inject("latency", path="/api/authinfo", seconds=0.15)
    started = time.perf_counter()
    response = await client.get("/api/authinfo")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15
    assert sim.state.request_log[-1].fault == "latency"


async def test_dropped_connection_in_process_is_a_transport_error(
    sim: Simulator, client: httpx2.AsyncClient
) -> None:
    sim.state.faults.inject("drop", path="/api/authinfo")
    with pytest.raises(httpx2.TransportError):
        await client.get("/api/authinfo")
    assert issubclass(DroppedConnection, httpx2.RemoteProtocolError)
    assert (await client.get("/api/authinfo")).status_code == 200
    assert [entry.status for entry in sim.state.request_log] == [0, 200]


async def test_forced_rate_limit(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.faults.inject("rate_limit", path="/api/*")
    refused = await client.get("/api/authinfo")
    assert refused.status_code == 429
    assert refused.text.startswith("Rate Limit Reached")


def test_bad_fault_arguments(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.state.faults.inject("explode")
    with pytest.raises(ValueError, match="probability"):
        sim.state.faults.inject("error", probability=0)
    with pytest.raises(ValueError, match="times"):
        sim.state.faults.inject("error", times=0)


async def test_edit_and_delete_by_hand(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.seed(
        {
            "clients": [{"id": 1, "name": "A Ltd"}],
            "licences": [{"id": 3, "name": "EP", "client_id": 1}],
        }
    )
    headers = await bearer(client)
    sim.state.edit_by_hand("SoftwareLicence", 3, name="Renamed in Halo", count=9)
    renamed = (await client.get("/api/SoftwareLicence/3", headers=headers)).json()
    assert (renamed["name"], renamed["count"]) == ("Renamed in Halo", 9)
    sim.state.delete_by_hand("softwarelicence", 3)
    assert (await client.get("/api/SoftwareLicence/3", headers=headers)).status_code == 404
    with pytest.raises(KeyError, match="no SoftwareLicence with id 3"):
        sim.state.delete_by_hand("SoftwareLicence", 3)
    with pytest.raises(ValueError, match="inactive"):
        sim.state.edit_by_hand("Client", 1, inactive="sometimes")
    with pytest.raises(KeyError, match="unknown Halo entity"):
        sim.state.records("Ticket")


async def test_request_log_filters_and_clear(sim: Simulator, client: httpx2.AsyncClient) -> None:
    headers = await bearer(client)
    await client.get("/api/Client", params={"pageinate": "true"}, headers=headers)
    await client.post("/api/Client", json=[{"name": "N Ltd"}], headers=headers)
    await client.get("/api/Client/404", headers=headers)
    log = sim.state.request_log
    assert len(log) == 4
    (post,) = log.filter(method="post", path="/api/client")
    assert post.status == 201
    assert post.body_size > 0
    assert post.response_size > 0
    assert post.client_id is not None
    (listed,) = log.filter(method="GET", path="/API/Client")
    assert listed.query == "pageinate=true"
    assert [entry.path for entry in log.filter(status=404)] == ["/api/Client/404"]
    assert len(log.filter(path="/api/*")) == 3
    log.clear()
    assert len(log) == 0
