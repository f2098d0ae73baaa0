"""Injected faults in-process, by-hand edits, and the request log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx2
import pytest

from halosync.simulator import DroppedConnection, FaultKind, Simulator
from halosync.simulator.faults import edit_answer
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


async def test_answers_edited_field_by_field(sim: Simulator, client: httpx2.AsyncClient) -> None:
    faults = sim.state.faults
    faults.inject("omit_field", "GET", "/api/authinfo", field="tenant_id")
    faults.inject("set_field", "GET", "/api/authinfo", field="auth_url", value=None)
    first, second = (
        (await client.get("/api/authinfo")).json(),
        (await client.get("/api/authinfo")).json(),
    )
    assert "tenant_id" not in first
    assert first["auth_url"]
    assert second["auth_url"] is None
    assert "tenant_id" in second
    assert [entry.fault for entry in sim.state.request_log] == ["omit_field", "set_field"]
    assert edit_answer({"n": 2, "rows": [{"a": 1}, {"a": 2}]}, "rows[].a", omit=True) == {
        "n": 2,
        "rows": [{}, {}],
    }
    assert edit_answer([{"a": 1}], "a", omit=False, value=3) == [{"a": 3}]
    with pytest.raises(ValueError, match="field is required"):
        faults.inject("set_field")
    with pytest.raises(ValueError, match="only by them"):
        faults.inject("error", field="id")


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


async def test_hold_keeps_one_page_waiting_while_the_list_changes(
    sim: Simulator, client: httpx2.AsyncClient
) -> None:
    """A hold on page 2 lets a test change the list between pages, as a live Halo does."""
    sim.state.seed({"clients": [{"id": n, "name": f"C{n}"} for n in range(1, 6)]})
    headers = await bearer(client)
    hold = sim.state.faults.inject("hold", "GET", "/api/client", query={"page_no": 2})
    query = {"pageinate": "true", "page_size": "2"}
    first = await client.get("/api/Client", params={**query, "page_no": "1"}, headers=headers)
    assert [row["id"] for row in first.json()["clients"]] == [1, 2]
    waiting = asyncio.ensure_future(
        client.get("/api/Client", params={**query, "page_no": "2"}, headers=headers)
    )
    while hold.holding == 0:
        await asyncio.sleep(0.001)
    assert not waiting.done()
    sim.state.delete_by_hand("Client", 1)
    sim.state.create_by_hand("Client", name="C6")
    sim.state.faults.release(hold.id)
    second = await waiting
    # Record 3 slipped back onto page 1 while page 2 was held: a reader must not miss it.
    assert [row["id"] for row in second.json()["clients"]] == [4, 5]
    assert second.json()["record_count"] == 5
    assert hold.to_dict()["holding"] == 0
    assert hold.to_dict()["released"] is True
    other = await client.get("/api/Client", params={**query, "page_no": "3"}, headers=headers)
    assert other.status_code == 200  # the query decides: page 3 is not held


async def test_hold_ends_after_its_seconds(sim: Simulator, client: httpx2.AsyncClient) -> None:
    sim.state.faults.inject("hold", path="/api/authinfo", seconds=0.05)
    started = time.perf_counter()
    assert (await client.get("/api/authinfo")).status_code == 200
    assert time.perf_counter() - started >= 0.05
    with pytest.raises(ValueError, match="single value"):
        sim.state.faults.inject("hold", query={"page_no": [1, 2]})
    with pytest.raises(KeyError):
        sim.state.faults.release(999)


def test_create_by_hand_refuses_an_id_and_bad_fields(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="leave id out"):
        sim.state.create_by_hand("Client", id=5, name="X")
    with pytest.raises(ValueError, match="name"):
        sim.state.create_by_hand("Client", name="")
    created = sim.state.create_by_hand("Client", name="By Hand Ltd")
    assert sim.state.record("Client", created["id"]) is not None
