"""``/review``: the queue of held changes, approve (writes at once), reject, the policy."""

from __future__ import annotations

import copy
from typing import Any

from halosync.sync.review import approve_review
from tests.web.api.conftest import USAGE, Api


def feed(api: Api, a1_mail: int) -> None:
    document: dict[str, Any] = copy.deepcopy(USAGE)
    document["subscriptions"][0]["quantity"] = a1_mail
    assert api.post("usage", json=document).status_code == 200


def a1_count(api: Api) -> int:
    [licence] = [lic for lic in api.sim.state.records("SoftwareLicence") if lic["client_id"] == 1]
    return int(licence["count"])


def posts(api: Api) -> int:
    return len([e for e in api.sim.state.request_log if e.method == "POST" and "/api/" in e.path])


def synced(ready: Api) -> Api:
    assert api_ok(ready.put("mappings/accounts/A1", json={"halo_client_id": 1}))
    assert api_ok(ready.put("mappings/services/MAIL", json={"halo_item_id": 1}))
    assert api_ok(ready.put("review/policy", json={}))  # the recommended rules
    ready.sync_usage()
    assert a1_count(ready) == 10
    return ready


def api_ok(response: Any) -> bool:
    return bool(response.status_code == 200)


def test_held_changes_are_listed_approved_and_written_once(ready: Api) -> None:
    api = synced(ready)
    feed(api, 1000)
    report = api.sync_usage()
    [held] = [c for c in report.changes if c.held]
    assert held.action == "skip"
    preview = api.post("syncs/usage/preview").json()
    assert [c["held"] for c in preview["changes"] if c["account_ref"] == "A1"] == [True]

    queue = api.get("review").json()["items"]
    assert len(queue) == 1
    item = queue[0]
    assert item["account_ref"] == "A1"
    assert item["service_name"] == "Mail Protection"
    assert item["halo_record"].startswith("licence ")
    assert item["change"] == "count 10 → 1000"
    assert item["why"] == "the quantity changes by +9,900 % (limit ± 50 %)"
    assert item["status"] == "pending"
    assert item["first_seen_at"]

    assert (
        api.post("review/approve", json={"ids": [item["id"]]}, token=api.viewer).status_code == 403
    )
    unknown = api.post("review/approve", json={"ids": [item["id"] + 1]})
    assert unknown.status_code == 404
    assert api.post("review/approve", json={}).status_code == 422
    assert api.post("review/approve", json={"ids": [1], "all": True}).status_code == 422
    assert api.get("review", workspace="other", token=api.other_admin).json()["items"] == []

    api.sim.state.request_log.clear()
    approved = api.post("review/approve", json={"ids": [item["id"]]})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["written"] == 1
    assert body["error"] is None
    assert body["approved"][0]["decided_by"] == "API token 1"
    assert [r["action"] for r in body["results"]] == ["update"]
    assert posts(api) == 1
    assert a1_count(api) == 10 * 100
    assert api.get("review").json()["items"] == []
    again = api.post("review/approve", json={"ids": [item["id"]]})
    assert again.status_code == 422
    assert "already decided" in again.json()["detail"]


def test_a_rejected_value_is_remembered(ready: Api) -> None:
    api = synced(ready)
    feed(api, 0)
    api.sync_usage()
    [item] = api.get("review").json()["items"]
    assert "drops from 10 to 0" in item["why"]
    rejected = api.post("review/reject", json={"all": True})
    assert rejected.status_code == 200
    assert [r["id"] for r in rejected.json()["rejected"]] == [item["id"]]
    api.sim.state.request_log.clear()
    api.sync_usage()
    assert posts(api) == 0
    assert a1_count(api) == 10
    assert api.get("review").json()["items"] == []
    decided = api.get("review", params={"status": "rejected"}).json()["items"]
    assert [i["decided_by"] for i in decided] == ["API token 1"]


def test_the_policy_is_read_and_replaced(api: Api) -> None:
    assert api.get("review/policy").json() == {
        "change_above_units": None,
        "change_above_percent": 50,
        "new_above_units": None,
        "any_price_change": False,
        "drop_to_zero": True,
    }
    bad = api.put("review/policy", json={"change_above_units": -1})
    assert bad.status_code == 422
    assert (
        api.put("review/policy", json={"drop_to_zero": False}, token=api.viewer).status_code == 403
    )
    saved = api.put("review/policy", json={"change_above_percent": None, "new_above_units": 5})
    assert saved.status_code == 200
    assert saved.json()["change_above_percent"] is None
    assert api.get("review/policy").json()["new_above_units"] == 5


def test_terms_kept_apart_each_held_item_names_its_term(ready: Api) -> None:
    """Monthly and annual of A1's MAIL kept apart: each term's hold is its own item, named
    by its term; an approval given before the pair was excluded does not outlive it."""
    api = synced(ready)
    assert api_ok(api.put("rules", params={"service_ref": "MAIL"}, json={"terms": "apart"}))

    def feed_terms(monthly: int, annual: int) -> None:
        document: dict[str, Any] = copy.deepcopy(USAGE)
        annual_row = {**document["subscriptions"][0], "term": "Annual", "quantity": annual}
        document["subscriptions"][0]["quantity"] = monthly
        document["subscriptions"].append(annual_row)
        assert api.post("usage", json=document).status_code == 200

    feed_terms(10, 5)
    api.sync_usage()
    feed_terms(1000, 500)
    api.sync_usage()
    queue = api.get("review").json()["items"]
    assert sorted((i["term"], i["change"]) for i in queue) == [
        ("Annual", "count 5 → 500"),
        ("Monthly", "count 10 → 1000"),
    ]
    # Approved while another sync runs (the approval stands), then the pair is excluded.
    approve_review(api.database, api.acme, [queue[0]["id"]], actor="ada")
    pair = {"account_ref": "A1", "service_ref": "MAIL"}
    assert api_ok(api.put("rules/exclusion", params=pair, json={"reason": "own use"}))
    api.sync_usage()
    assert api.get("review", params={"status": "all"}).json()["items"] == []
    assert api_ok(api.delete("rules/exclusion", params=pair))
    api.sim.state.request_log.clear()
    api.sync_usage()
    assert posts(api) == 0
    assert sorted(i["term"] for i in api.get("review").json()["items"]) == ["Annual", "Monthly"]
