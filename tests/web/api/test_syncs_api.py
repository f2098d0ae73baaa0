"""Sync triggers, preview, runs and results, schedules, logs and reconciliation."""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
import re
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from halosync.store.base import utcnow
from halosync.store.models import SyncRun
from halosync.sync.progress import SyncProgress
from halosync.sync.runs import beat, start_run
from halosync.web.api import syncs
from tests.web.api.conftest import USAGE, Api


def _mapped(api: Api) -> Api:
    for ref, client in (("A1", 1), ("A2", 2)):
        assert api.put(f"mappings/accounts/{ref}", json={"halo_client_id": client}).status_code
    assert api.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    return api


def _sync_now(api: Api) -> None:
    api.sync_usage()


def test_a_viewer_token_cannot_dry_run_by_the_uis_rule(ready: Api) -> None:
    """The API refuses a viewer's dry run with the same rule (and words) as the web UI."""
    _mapped(ready)
    with ready.database.session() as session:
        runs_before = session.query(SyncRun).count()
    refused = ready.post("syncs/usage/preview", token=ready.viewer)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "This API token is read-only (role viewer); a dry run needs admin."
    )
    with ready.database.session() as session:
        assert session.query(SyncRun).count() == runs_before


def test_a_viewer_token_cannot_read_halo_live_through_the_reconciliation(ready: Api) -> None:
    """The reconciliation reads HaloPSA with the workspace's credentials and spends the rate
    budget syncs share: admin tokens only, by the rule (and words) the UI applies."""
    _mapped(ready)
    ready.sim.state.request_log.clear()
    for path in ("reconciliation", "reconciliation.csv"):
        refused = ready.get(path, token=ready.viewer)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["detail"] == (
            "This API token is read-only (role viewer); the reconciliation (it reads HaloPSA "
            "live) needs admin."
        )
    assert ready.sim.state.request_log.entries() == []
    assert ready.get("reconciliation").status_code == 200


def test_preview_is_the_cli_contract_document_and_writes_nothing(ready: Api) -> None:
    _mapped(ready)
    preview = ready.post("syncs/usage/preview")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True
    assert body["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    assert {(c["account_ref"], c["action"]) for c in body["changes"]} == {
        ("A1", "create"),
        ("A2", "create"),
    }
    # Each change says where its number came from (no rules: the vendor's quantity).
    assert all(c["explain"]["text"].startswith("vendor ") for c in body["changes"])
    assert ready.sim.state.records("SoftwareLicence") == []
    one = ready.post("syncs/usage/preview", json={"account_ref": "A2"}).json()
    assert [c["account_ref"] for c in one["changes"]] == ["A2"]
    unknown = ready.post("syncs/usage/preview", json={"account_ref": "ZZ"})
    assert unknown.status_code == 404
    assert "'ZZ'" in unknown.json()["detail"]


def _one_of_each(api: Api) -> None:
    """After a first sync: A1 MAIL counts up (update), A2 MAIL stays (unchanged), A2 BKP is
    not mapped (skip) and A3 MAIL is new (create)."""
    _mapped(api)
    api.sync_usage()
    usage = copy.deepcopy(USAGE)
    usage["subscriptions"][0]["quantity"] = 12
    usage["accounts"].append(
        {"ref": "A3", "name": "Unrelated Co", "status": "active", "billed": True}
    )
    for account, service, quantity in (("A2", "BKP", 3), ("A3", "MAIL", 7)):
        usage["subscriptions"].append(
            {
                "account_ref": account,
                "service_ref": service,
                "quantity": quantity,
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
            }
        )
    assert api.post("usage", json=usage).status_code == 200
    assert api.put("mappings/accounts/A3", json={"halo_client_id": 3}).status_code == 200


def _vendor(quantity: int) -> dict[str, Any]:
    return {
        "text": f"vendor {quantity} → {quantity}",
        "steps": [
            {"rule": "vendor", "text": f"vendor {quantity}", "quantity": quantity, "scope": None}
        ],
    }


def _change(account: str, service: str, action: str, **fields: Any) -> dict[str, Any]:
    return {
        "account_ref": account,
        "service_ref": service,
        "action": action,
        "halo_id": None,
        "before": None,
        "after": None,
        "reason": "",
        "level": "INFO",
        "message": None,
        "duplicates": [],
        "held": False,
        "explain": None,
        "term": "",
    } | fields


def test_the_previews_document_is_the_cli_contracts_to_the_byte(ready: Api) -> None:
    """Every field, its order, its JSON type and the compact encoding (UTF-8, no escapes)."""
    _one_of_each(ready)
    preview = ready.post("syncs/usage/preview")
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == "application/json"
    body = preview.json()
    assert preview.content == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    notes = body["changes"][3]["after"]["notes"]
    assert re.fullmatch(
        r"Kept in step by halosync; keep this tag so it is recognised: \[halosync:[0-9a-f]{16}\]",
        notes,
    )
    assert isinstance(body["run_id"], int)
    assert isinstance(body["duration_ms"], int)
    expected: dict[str, Any] = {
        "run_id": body["run_id"],
        "workspace": "acme",
        "dry_run": True,
        "status": "succeeded",
        "target": "licence",
        "account_ref": None,
        "counts": {"created": 1, "updated": 1, "unchanged": 1, "skipped": 1, "failed": 0},
        "duration_ms": body["duration_ms"],
        "error": None,
        "changes": [
            _change(
                "A1",
                "MAIL",
                "update",
                halo_id=1,
                before={"count": 10},
                after={"count": 12},
                reason="licence 1: count changed",
                explain=_vendor(12),
            ),
            _change(
                "A2",
                "BKP",
                "skip",
                reason="service 'Backup' is not mapped to a HaloPSA item; map it under "
                "Service mapping",
                level="WARNING",
            ),
            _change(
                "A2",
                "MAIL",
                "unchanged",
                halo_id=2,
                reason="licence 2 already holds these values",
                explain=_vendor(4),
            ),
            _change(
                "A3",
                "MAIL",
                "create",
                after={
                    "client_id": 3,
                    "name": "Mail Protection",
                    "type": 1,
                    "item_id": 1,
                    "count": 7,
                    "start_date": "2024-01-01T00:00:00",
                    "billing_cycle": "Monthly",
                    "term_duration": "Monthly",
                    "status": "Active",
                    "notes": notes,
                },
                reason="no licence yet for this account and service; creating one",
                explain=_vendor(7),
            ),
        ],
    }
    assert body == expected
    assert list(body) == list(expected)
    assert [list(change) for change in body["changes"]] == [
        list(change) for change in expected["changes"]
    ]


def _body_messages(api: Api, path: str) -> list[bytes]:
    """The body of one POST as the ASGI messages the app sent."""
    scope = api.post_scope(path, [(b"content-length", b"0")])
    bodies: list[bytes] = []
    requests: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": b"", "more_body": False}
    ]

    async def run() -> None:
        done = asyncio.Event()

        async def receive() -> MutableMapping[str, Any]:
            if requests:
                return requests.pop()
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200
            if message["type"] == "http.response.body":
                bodies.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await api.app(scope, receive, send)

    asyncio.run(run())
    return bodies


def test_the_preview_is_streamed(ready: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document goes out a part at a time (read back from the run's results on disk),
    so a preview of 100,000 pairs is never held whole."""
    _one_of_each(ready)
    monkeypatch.setattr(syncs, "_STREAM_PART", 200)  # 64 KiB a message: this is 1.9 KB
    bodies = _body_messages(ready, "syncs/usage/preview")
    assert len([body for body in bodies if body]) > 3
    document = json.loads(b"".join(bodies))
    assert [(c["account_ref"], c["service_ref"]) for c in document["changes"]] == [
        ("A1", "MAIL"),
        ("A2", "BKP"),
        ("A2", "MAIL"),
        ("A3", "MAIL"),
    ]


def test_preview_without_connection_says_why(api: Api) -> None:
    halted = api.post("syncs/usage/preview").json()
    assert halted["status"] == "halted"
    assert "no Halo connection" in halted["error"]


def test_trigger_queues_then_refuses_while_in_progress(ready: Api) -> None:
    queued = ready.post("syncs/usage")
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["run_id"]
    assert queued.json()["status"] == "queued"
    busy = ready.post("syncs/customers")
    assert busy.status_code == 409
    assert busy.json()["detail"].startswith("Sync in progress")
    overview = ready.get("syncs/overview", token=ready.viewer).json()
    assert overview["in_progress"] is True
    assert overview["running_run_id"] == run_id
    run = ready.get(f"runs/{run_id}").json()
    assert (run["status"], run["trigger"], run["kind"]) == ("queued", "api", "usage")


def test_a_running_syncs_progress_shows_in_the_overview_and_the_run(ready: Api) -> None:
    run_id = start_run(ready.database, ready.acme, kind="usage", trigger="manual")
    until = datetime(2026, 6, 2, 18, 7, tzinfo=UTC)
    progress = SyncProgress("writing", 3, 250, 100, 600, until)
    beat(ready.database, run_id, progress)
    overview = ready.get("syncs/overview", token=ready.viewer).json()
    assert overview["running_run_id"] == run_id
    expected = {
        "phase": "writing",
        "pages_read": 3,
        "records_read": 250,
        "writes_done": 100,
        "writes_planned": 600,
    }
    assert overview["progress"] == expected | {"waiting_until": "2026-06-02T18:07:00Z"}
    run = ready.get(f"runs/{run_id}").json()
    assert run["progress"] == overview["progress"]


def test_cooldown_after_a_manual_full_sync_is_429_with_retry_after(ready: Api) -> None:
    with ready.database.session() as session:
        now = utcnow()
        session.add(
            SyncRun(
                workspace_id=ready.acme,
                kind="usage",
                trigger="manual",
                status="succeeded",
                created_at=now - timedelta(minutes=1),
                started_at=now - timedelta(minutes=1),
                finished_at=now - timedelta(minutes=1),
                counts={},
            )
        )
    refused = ready.post("syncs/usage")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("You can trigger the next sync in ")
    assert int(refused.headers["Retry-After"]) >= 60
    per_account = ready.post("syncs/usage", json={"account_ref": "A1"})
    assert per_account.status_code == 202


def test_runs_and_results_per_account_and_service(ready: Api) -> None:
    _mapped(ready)
    _sync_now(ready)
    runs = ready.get("runs", params={"kind": "usage"}, token=ready.viewer).json()
    assert runs["total"] == 1
    run = runs["items"][0]
    assert run["status"] == "succeeded"
    assert run["counts"]["created"] == 2
    detail = ready.get(f"runs/{run['id']}").json()
    assert detail["results_total"] == 2
    assert {(r["account_ref"], r["service_ref"], r["action"]) for r in detail["results"]} == {
        ("A1", "MAIL", "create"),
        ("A2", "MAIL", "create"),
    }
    for result in detail["results"]:
        (step,) = result["explain"]["steps"]
        assert step["rule"] == "vendor"
        assert result["explain"]["text"] == f"{step['text']} \u2192 {step['quantity']}"
    assert ready.get("runs/99999").status_code == 404


def test_a_record_halo_refuses_shows_halos_message_in_the_run_results(ready: Api) -> None:
    _mapped(ready)
    ready.sim.state.delete_by_hand("Client", 2)  # removed in Halo after it was mapped
    _sync_now(ready)
    run = ready.get("runs", params={"kind": "usage"}).json()["items"][0]
    # A client deleted after the pull: the documented skip, with Halo's words in it.
    assert (run["counts"]["created"], run["counts"]["failed"]) == (1, 0)
    failed = ready.get(f"runs/{run['id']}", params={"action": "skip"}).json()["results"]
    assert [(r["account_ref"], r["level"]) for r in failed] == [("A2", "WARNING")]
    assert (
        "(HaloPSA refused the create: client_id: client_id 2 does not exist.)"
        in failed[0]["reason"]
    )
    assert "One or more validation errors" not in failed[0]["message"]


def test_logs_level_filter_paging_and_tiles(ready: Api) -> None:
    _mapped(ready)
    _sync_now(ready)
    everything = ready.get("logs", token=ready.viewer).json()
    assert everything["total"] >= 2
    titles = [entry["title"] for entry in everything["entries"]]
    assert "Subscriptions sync completed" in titles
    assert everything["range"].startswith("1 – ")
    assert everything["tiles"]["last_update_age"] is not None
    first = ready.get("logs", params={"page_size": 1}).json()
    assert first["range"] == f"1 – 1 of {everything['total']}"
    errors_only = ready.get("logs", params={"level": "error"}).json()
    assert errors_only["total"] == 0
    assert errors_only["tiles"]["total"] == everything["total"]
    assert errors_only["tiles"]["errors_alert"] is False
    bad = ready.get("logs", params={"level": "loud"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["location"] == "query.level"


def test_reconciliation_json_and_formula_safe_csv(ready: Api) -> None:
    _mapped(ready)
    _sync_now(ready)
    licence = next(
        lic for lic in ready.sim.state.records("SoftwareLicence") if lic["client_id"] == 1
    )
    ready.sim.state.edit_by_hand("SoftwareLicence", licence["id"], count=99)
    report = ready.get("reconciliation").json()
    assert report["drift"] == 1
    drifted = next(row for row in report["rows"] if row["drift"])
    assert (drifted["account_ref"], drifted["halo_quantity"]) == ("A1", 99)

    injected = ready.post(
        "usage",
        json={
            "accounts": [
                {"ref": "=HYPERLINK(1)", "name": "=cmd|x", "status": "active", "billed": True}
            ],
            "subscriptions": [
                {
                    "account_ref": "=HYPERLINK(1)",
                    "service_ref": "MAIL",
                    "quantity": 1,
                    "start_date": "2024-01-01",
                    "billing_cycle": "Monthly",
                    "term": "Monthly",
                }
            ],
        },
    )
    assert injected.status_code == 200, injected.text
    exported = ready.get("reconciliation.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "account_ref"
    assert any("HYPERLINK" in cell for row in rows for cell in row)
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)


def test_schedules_read_and_set(api: Api) -> None:
    shown = {s["kind"]: s for s in api.get("schedules", token=api.viewer).json()}
    assert shown["customers"]["schedule"] == "daily 08:00"
    assert shown["usage"]["schedule"] == "daily 18:00"
    changed = api.put("schedules/usage", json={"schedule": "monthly last 18:00"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "Monthly on the last day at 18:00 UTC"
    bad = api.put("schedules/usage", json={"schedule": "monthly 31 18:00"})
    assert bad.status_code == 422
    assert "31" in bad.json()["detail"]


def test_halo_failing_is_a_503_that_says_so(ready: Api) -> None:
    _mapped(ready)
    ready.sim.state.faults.inject("error", method="GET", path="/api/softwarelicence", times=50)
    failed = ready.get("reconciliation")
    assert failed.status_code == 503, failed.text
    assert failed.headers["Retry-After"] == "60"
    assert "Internal Server Error" in failed.json()["detail"]
    ready.sim.state.faults.clear()
    assert ready.get("reconciliation").status_code == 200


def test_halo_asking_for_a_day_long_wait_is_a_503_at_once(ready: Api) -> None:
    # The client runs on the real clock here: before the fix this request waited a day.
    _mapped(ready)
    ready.sim.state.configure({"retry_after": 86400})
    ready.sim.state.faults.inject("rate_limit", method="GET", path="/api/softwarelicence")
    busy = ready.get("reconciliation")
    assert busy.status_code == 503, busy.text
    detail = busy.json()["detail"]
    assert "429" in detail
    assert "86400" in detail


def test_preview_results_and_reconciliation_show_the_fractional_count_and_the_ruled_one(
    ready: Api,
) -> None:
    _mapped(ready)
    fractional = [
        dict(sub, quantity=quantity)
        for sub, quantity in zip(USAGE["subscriptions"], (12.4, "2.5"), strict=True)
    ]
    assert ready.post("usage", json={"subscriptions": fractional}).status_code == 200
    # No rounding rule: a licence count is never cut; both pairs wait with the fix.
    waiting = ready.post("syncs/usage/preview").json()["changes"]
    assert {(c["action"], c["level"]) for c in waiting} == {("skip", "WARNING")}
    assert waiting[0]["reason"].startswith("quantity 12.4 is not a whole number")
    assert waiting[0]["explain"]["steps"][0]["quantity"] == 12.4

    rule = ready.put("rules", params={"service_ref": "MAIL"}, json={"rounding": "up"})
    assert rule.status_code == 200, rule.text
    preview = {c["account_ref"]: c for c in ready.post("syncs/usage/preview").json()["changes"]}
    assert preview["A1"]["after"]["count"] == 13
    assert [(s["rule"], s["quantity"]) for s in preview["A1"]["explain"]["steps"]] == [
        ("vendor", 12.4),
        ("rounding", 13),
    ]
    _sync_now(ready)
    run = ready.get("runs", params={"kind": "usage"}).json()["items"][0]
    results = {r["account_ref"]: r for r in ready.get(f"runs/{run['id']}").json()["results"]}
    assert results["A2"]["explain"]["text"] == "vendor 2.5 \u2192 rounded up (service) \u2192 3"
    assert results["A2"]["after"]["count"] == 3
    rows = {r["account_ref"]: r for r in ready.get("reconciliation").json()["rows"]}
    assert (rows["A1"]["vendor_quantity"], rows["A1"]["ruled_quantity"]) == (12.4, 13)
    assert (rows["A1"]["halo_quantity"], rows["A1"]["status"]) == (13, "in_step")
    # A whole count is 13 in JSON, as /subscriptions and reconcile --json write it, not 13.0.
    counts = [rows["A1"][key] for key in ("ruled_quantity", "ledger_quantity", "halo_quantity")]
    assert [(count, type(count)) for count in counts] == [(13, int)] * 3
