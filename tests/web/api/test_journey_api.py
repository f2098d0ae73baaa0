"""The whole newcomer journey through the REST API alone, with a worker executing the
queued runs: connect, import, Sync Organizations, suggest, map, preview, Sync Now, results,
logs, reconciliation, cooldown. No answer on the way carries the client secret."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from halosync.jobs.execute import RunExecutor
from tests.web.api.conftest import CLIENT_ID, CLIENT_SECRET, SERVER, Api

CSV = (
    "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
    "start_date,billing_cycle,term,customer_price\n"
    "A1,Client 1 Limited,active,true,MAIL,Mail Protection,12,2024-01-01,Monthly,Monthly,36\n"
    "A2,CLIENT TWO,active,true,MAIL,Mail Protection,3,2024-01-01,Monthly,Monthly,9\n"
)


def test_journey_through_the_api(any_database_api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api = any_database_api
    answers: list[httpx2.Response] = []
    worker = RunExecutor(api.database, api.settings, halo_factory=api.halo_factory)

    def call(method: str, path: str, expected: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = api.request(method, path, **kwargs)
        answers.append(response)
        assert response.status_code == expected, (method, path, response.text)
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    def run_queued(path: str, **kwargs: Any) -> dict[str, Any]:
        queued = call("POST", path, 202, **kwargs)
        worker.execute(int(str(queued["run_id"])))
        return call("GET", f"runs/{queued['run_id']}")

    docs = api.get("/docs", token="")
    assert docs.status_code == 200
    assert "/api/v1/workspaces/{workspace}/syncs/usage" in api.get("/openapi.json").text

    connection = {"server_url": SERVER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    call("PUT", "connection", json=connection)
    call("POST", "import", files={"file": ("usage.csv", CSV, "text/csv")})
    pulled = run_queued("syncs/customers")
    assert pulled["status"] == "succeeded", pulled

    suggested = call("POST", "mappings/accounts/suggest", json={"accept": True})
    assert suggested["saved"] == 2
    call("PUT", "mappings/services/MAIL", json={"halo_item_id": 1})
    assert call("GET", "mappings/summary")["can_finish"] is True
    call("PATCH", "settings", json={"price_mode": "totals", "confirm": True})

    preview = call("POST", "syncs/usage/preview")
    assert preview["counts"] == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert api.sim.state.records("SoftwareLicence") == []

    pushed = run_queued("syncs/usage")
    assert pushed["status"] == "succeeded", pushed
    assert pushed["results_total"] == 2
    counts = sorted(
        (lic["client_id"], lic["count"]) for lic in api.sim.state.records("SoftwareLicence")
    )
    assert counts == [(1, 12), (2, 3)]

    overview = call("GET", "syncs/overview")
    assert overview["in_progress"] is False
    assert overview["last_usage_age"] is not None
    again = call("POST", "syncs/usage", 429)
    assert str(again["detail"]).startswith("You can trigger the next sync in ")

    logs = call("GET", "logs", params={"level": "info"})
    titles = {entry["title"] for entry in logs["entries"]}
    assert {"Customers sync completed", "Subscriptions sync completed"} <= titles
    report = call("GET", "reconciliation")
    assert (report["total"], report["drift"]) == (2, 0)
    call("GET", "connection")

    for response in answers:
        assert CLIENT_SECRET not in response.text
    logged = capsys.readouterr()
    assert "sync_queued" in logged.out + logged.err  # the log output was really captured
    assert CLIENT_SECRET not in logged.out + logged.err
