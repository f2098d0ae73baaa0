"""Issue 16's rough edges through the REST API."""

from __future__ import annotations

import asyncio

from halosync.store.crypto import SecretBox
from halosync.sync.customers import run_customers_sync
from tests.web.api.conftest import Api


def _pull(api: Api) -> str:
    report = asyncio.run(
        run_customers_sync(
            api.database,
            SecretBox.from_settings(api.settings),
            api.settings,
            api.acme,
            halo_factory=api.halo_factory,
        )
    )
    return report.status


def _row(api: Api, ref: str) -> dict[str, object]:
    grid = api.get("mappings/accounts", params={"search": ref}).json()
    return next(row for row in grid["items"] if row["account_ref"] == ref)


def test_mappings_show_response_error_while_the_last_customers_pull_failed(ready: Api) -> None:
    assert ready.put("mappings/accounts/A1", json={"halo_client_id": 1}).status_code == 200
    assert _row(ready, "A1")["status"] == "mapped"

    ready.sim.state.faults.inject("error", method="GET", path="/api/client*", times=None)
    assert _pull(ready) == "failed"
    row = _row(ready, "A1")
    assert (row["status"], row["status_label"], row["status_message"]) == (
        "response_error",
        "Response Error",
        "Please refresh the page in a few minutes and try again.",
    )
    assert _row(ready, "A2")["status"] == "unmapped"  # nothing to vouch for
    only = ready.get("mappings/accounts", params={"status": "response_error"}).json()
    assert [r["account_ref"] for r in only["items"]] == ["A1"]
    summary = ready.get("mappings/summary").json()
    assert summary["can_finish"] is False

    ready.sim.state.faults.clear()
    assert _pull(ready) == "succeeded"
    assert _row(ready, "A1")["status"] == "mapped"


def test_reconciliation_gives_deliberate_skips_their_own_status(ready: Api) -> None:
    assert ready.put("mappings/accounts/A1", json={"halo_client_id": 1}).status_code == 200
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    ready.post(
        "usage",
        json={
            "accounts": [{"ref": "T3", "name": "Trial Three", "status": "trial", "billed": False}],
            "services": [{"ref": "BKP", "name": "Backup"}],
            "subscriptions": [
                {
                    "account_ref": ref,
                    "service_ref": service,
                    "quantity": 2,
                    "start_date": "2024-01-01",
                    "billing_cycle": "Monthly",
                    "term": "Monthly",
                }
                for ref, service in (("T3", "MAIL"), ("A1", "BKP"))
            ],
        },
    )
    report = ready.get("reconciliation")
    assert report.status_code == 200, report.text
    body = report.json()
    rows = {(r["account_ref"], r["service_ref"]): r for r in body["rows"]}
    assert {pair: row["status"] for pair, row in rows.items()} == {
        ("A1", "MAIL"): "out_of_date",  # mapped, billed, not written yet: the next sync does
        ("A1", "BKP"): "skipped",  # service not mapped
        ("A2", "MAIL"): "skipped",  # account not mapped
        ("T3", "MAIL"): "skipped",  # trial
    }
    assert rows[("T3", "MAIL")]["skipped"] == "trial account: usage is synced once it is billed"
    assert "is not mapped to a HaloPSA item" in rows[("A1", "BKP")]["skipped"]
    assert rows[("A2", "MAIL")]["out_of_date"] is False
    assert (body["out_of_date"], body["skipped"]) == (1, 3)
    csv_text = ready.get("reconciliation.csv").text
    assert "trial account: usage is synced once it is billed" in csv_text


def test_schedules_wait_for_finish(ready: Api) -> None:
    overview = ready.get("syncs/overview").json()
    assert (overview["setup_finished"], overview["next_auto_sync_at"]) == (False, None)
    refused = ready.post("setup/finish")
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == (
        "Setup cannot finish yet: Map at least one service to a Halo item."
    )
    assert ready.post("setup/finish", token=ready.viewer).status_code == 403

    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    finished = ready.post("setup/finish")
    assert finished.status_code == 200, finished.text
    assert finished.json() == {"setup_finished": True}
    assert ready.get("mappings/summary").json()["setup_finished"] is True
    overview = ready.get("syncs/overview").json()
    assert overview["setup_finished"] is True
    assert overview["next_usage_at"] is not None
    logs = ready.get("logs").json()
    assert "Setup finished" in [entry["title"] for entry in logs["entries"]]
    assert ready.post("setup/finish").status_code == 200  # again: nothing changes
