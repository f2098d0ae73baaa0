"""A simulator on a real port: dropped connections, hangs, and the /_simulator controls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from halosync.simulator import Simulator
from halosync.simulator.server import serve_in_thread
from tests.simulator.conftest import ADMIN_ID, ADMIN_SECRET

FORM = {
    "grant_type": "client_credentials",
    "client_id": ADMIN_ID,
    "client_secret": ADMIN_SECRET,
    "scope": "all",
}


@pytest.fixture
def base_url(sim: Simulator) -> Iterator[str]:
    with serve_in_thread(sim, host="127.0.0.1", port=0) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=base_url, timeout=5) as client:
        yield client


def auth(http: httpx2.Client) -> dict[str, str]:
    response = http.post("/auth/token", data=FORM)
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_serves_on_a_real_port(base_url: str, http: httpx2.Client) -> None:
    assert base_url.startswith("http://127.0.0.1:")
    assert http.get("/api/authinfo").json()["auth_url"] == f"{base_url}/auth"


def test_dropped_connection_closes_the_socket(sim: Simulator, http: httpx2.Client) -> None:
    sim.state.faults.inject("drop", path="/api/client")
    headers = auth(http)
    with pytest.raises(httpx2.RemoteProtocolError):
        http.get("/api/Client", headers=headers)
    assert http.get("/api/Client", headers=headers).status_code == 200


def test_timeout_hangs_past_the_client_timeout(sim: Simulator, base_url: str) -> None:
    sim.state.faults.inject("timeout", path="/api/authinfo", seconds=3)
    with httpx2.Client(base_url=base_url, timeout=0.3) as impatient:
        with pytest.raises(httpx2.ReadTimeout):
            impatient.get("/api/authinfo")
        assert impatient.get("/api/authinfo").status_code == 200


def test_control_endpoints(sim: Simulator, http: httpx2.Client) -> None:
    seeded = http.post(
        "/_simulator/seed",
        json={"clients": [{"id": 1, "name": "A Ltd"}], "items": [{"id": 2, "name": "EP"}]},
    )
    assert seeded.json() == {"clients": 1, "items": 1}
    assert http.post("/_simulator/seed", json={"clients": [{"name": ""}]}).status_code == 400
    headers = auth(http)

    fault = http.post("/_simulator/faults", json={"kind": "error", "path": "/api/item", "times": 1})
    assert fault.status_code == 201
    assert http.get("/api/Item", headers=headers).status_code == 500
    assert http.get("/_simulator/faults").json()[0]["fired"] == 1
    assert http.post("/_simulator/faults", json={"kind": "nope"}).status_code == 400
    assert http.delete("/_simulator/faults").status_code == 200

    renamed = http.patch("/_simulator/records/Client/1", json={"name": "B Ltd"})
    assert renamed.json()["name"] == "B Ltd"
    assert http.get("/api/Client/1", headers=headers).json()["name"] == "B Ltd"
    assert http.delete("/_simulator/records/Item/2").status_code == 200
    assert http.get("/api/Item/2", headers=headers).status_code == 404
    assert http.delete("/_simulator/records/Item/2").status_code == 404
    assert http.get("/_simulator/records/client").json()[0]["name"] == "B Ltd"

    advanced = http.post("/_simulator/clock/advance", json={"seconds": 3601})
    assert advanced.status_code == 200
    assert http.get("/api/Client", headers=headers).status_code == 401
    headers = auth(http)
    assert http.post("/_simulator/tokens/revoke").json() == {"revoked": 1}
    assert http.get("/api/Client", headers=headers).status_code == 401
    headers = auth(http)
    assert http.post("/_simulator/restart").json() == {"restarts": 1}
    assert http.get("/api/Client", headers=headers).status_code == 401

    log = http.get("/_simulator/requests", params={"path": "/api/client*", "status": 401}).json()
    assert len(log) == 3
    assert all(entry["method"] == "GET" for entry in log)
    state = http.get("/_simulator/state").json()
    assert state["records"]["clients"] == 1
    assert ADMIN_SECRET not in str(state)
    assert http.delete("/_simulator/requests").status_code == 200
    assert http.get("/_simulator/requests").json() == []
    assert http.get("/_simulator/unknown").status_code == 404


def test_control_api_holds_a_page_and_changes_records_meanwhile(
    sim: Simulator, base_url: str, http: httpx2.Client
) -> None:
    """Over a real port: hold page 2, create and delete records by hand, then release."""
    http.post("/_simulator/seed", json={"clients": [{"id": n, "name": f"C{n}"} for n in (1, 2, 3)]})
    headers = auth(http)
    hold = http.post(
        "/_simulator/faults",
        json={"kind": "hold", "method": "GET", "path": "/api/client", "query": {"page_no": 2}},
    ).json()
    assert hold["query"] == {"page_no": "2"}
    result: dict[str, httpx2.Response] = {}

    def read_page_2() -> None:
        with httpx2.Client(base_url=base_url, timeout=5) as reader:
            result["page"] = reader.get(
                "/api/Client",
                params={"pageinate": "true", "page_size": "2", "page_no": "2"},
                headers=headers,
            )

    thread = threading.Thread(target=read_page_2)
    thread.start()
    deadline = time.monotonic() + 5
    while http.get("/_simulator/faults").json()[0]["holding"] == 0:
        assert time.monotonic() < deadline, "page 2 was never held"
        time.sleep(0.005)
    created = http.post("/_simulator/records/Client", json={"name": "C4"})
    assert created.status_code == 201
    assert created.json()["id"] == 4
    assert http.post("/_simulator/records/Client", json={"name": ""}).status_code == 400
    assert http.delete("/_simulator/records/Client/1").status_code == 200
    released = http.post(f"/_simulator/faults/{hold['id']}/release")
    assert released.json()["released"] is True
    thread.join(5)
    page = result["page"].json()
    assert [row["id"] for row in page["clients"]] == [4]
    assert page["record_count"] == 3
    assert http.post("/_simulator/faults/99/release").status_code == 404
