"""The REST API refuses an empty or mass-cancelling snapshot, like the CLI, and Halo keeps
its counts; ``allow_mass_cancel=true`` is the explicit override."""

from __future__ import annotations

from tests.web.api.conftest import USAGE, Api

HEADER = "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
HEADER += "start_date,billing_cycle,term\n"


def _licence_counts(api: Api) -> dict[int, float]:
    return {
        int(record["client_id"]): float(record["count"])
        for record in api.sim.state.records("SoftwareLicence")
    }


def test_an_empty_snapshot_cannot_zero_the_bills_in_halo(ready: Api) -> None:
    for ref, client in (("A1", 1), ("A2", 2)):
        assert ready.put(f"mappings/accounts/{ref}", json={"halo_client_id": client}).is_success
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).is_success
    ready.sync_usage()
    assert _licence_counts(ready) == {1: 10.0, 2: 4.0}

    refused = ready.post("usage", params={"snapshot": "true"}, json={})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["detail"].startswith(
        "The snapshot lists no subscriptions, so it would cancel 2 of 2 subscriptions"
    )
    assert "allow_mass_cancel=true" in body["detail"]
    assert "--allow-mass-cancel" not in body["detail"]  # said in the API's terms
    assert body["errors"] == [
        {
            "location": "$",
            "message": "would cancel 2 of 2 subscriptions; allow_mass_cancel=true goes ahead",
        }
    ]
    upload = ready.post(
        "import", params={"snapshot": "true"}, files={"file": ("u.csv", HEADER, "text/csv")}
    )
    assert upload.status_code == 409, upload.text
    assert "would cancel 2 of 2 subscriptions" in upload.json()["detail"]
    # Nothing changed, so the next sync writes nothing and Halo keeps billing 10 and 4.
    assert ready.sync_usage().counts["updated"] == 0
    assert _licence_counts(ready) == {1: 10.0, 2: 4.0}

    # The operator's explicit word: the vendor really ended them all.
    allowed = ready.post("usage", params={"snapshot": "true", "allow_mass_cancel": "true"}, json={})
    assert allowed.status_code == 200, allowed.text
    assert len(allowed.json()["cancelled"]) == 2
    # ...which the next sync holds for review (drops to 0), and writes once approved:
    # what the refusal protected against.
    held = ready.sync_usage()
    assert sum(c.held for c in held.changes) == 2
    assert _licence_counts(ready) == {1: 10.0, 2: 4.0}
    approved = ready.post("review/approve", json={"all": True})
    assert approved.status_code == 200, approved.text
    assert approved.json()["written"] == 2
    assert _licence_counts(ready) == {1: 0.0, 2: 0.0}


def test_the_limit_is_a_workspace_setting_in_the_api(api: Api) -> None:
    api.import_usage()
    settings = api.get("settings").json()
    assert settings["snapshot_cancel_limit_percent"] == 50
    assert api.patch("settings", json={"snapshot_cancel_limit_percent": 101}).status_code == 422
    assert api.patch("settings", json={"snapshot_cancel_limit_percent": "５０"}).status_code == 422
    changed = api.patch("settings", json={"snapshot_cancel_limit_percent": 10})
    assert changed.json()["snapshot_cancel_limit_percent"] == 10
    one_of_two = {"subscriptions": USAGE["subscriptions"][1:]}
    refused = api.post("usage", params={"snapshot": "true"}, json=one_of_two)
    assert refused.status_code == 409
    assert "would cancel 1 of 2 subscriptions (50.0 %" in refused.json()["detail"]
    assert "limit of 10 %" in refused.json()["detail"]
    assert api.patch("settings", json={"snapshot_cancel_limit_percent": 50}).is_success
    done = api.post("usage", params={"snapshot": "true"}, json=one_of_two)
    assert done.status_code == 200, done.text
    assert done.json()["cancelled"] == [
        {"account_ref": "A1", "service_ref": "MAIL", "term": "Monthly"}
    ]
