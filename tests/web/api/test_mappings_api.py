"""Mapping routes: grid, map/unmap, suggestions, pickers and the setup summary."""

from __future__ import annotations

from typing import Any

from tests.web.api.conftest import Api


def test_grid_lists_accounts_with_status_search_sort_and_paging(ready: Api) -> None:
    grid = ready.get("mappings/accounts", token=ready.viewer)
    assert grid.status_code == 200
    body = grid.json()
    assert body["total"] == 3
    assert {row["status_label"] for row in body["items"]} == {"Unmapped"}

    mapped = ready.put("mappings/accounts/A1", json={"halo_client_id": 1})
    assert mapped.status_code == 200, mapped.text
    row = mapped.json()
    assert (row["status"], row["status_label"], row["halo_client_name"]) == (
        "mapped",
        "Mapped",
        "Client 1 Ltd",
    )

    only_mapped = ready.get("mappings/accounts", params={"status": "mapped"}).json()
    assert [r["account_ref"] for r in only_mapped["items"]] == ["A1"]
    searched = ready.get("mappings/accounts", params={"search": "two"}).json()
    assert [r["account_ref"] for r in searched["items"]] == ["A2"]
    by_id = ready.get("mappings/accounts", params={"search": "1"}).json()
    assert "A1" in [r["account_ref"] for r in by_id["items"]]
    paged = ready.get(
        "mappings/accounts", params={"sort": "account_ref", "descending": "true", "page_size": 2}
    ).json()
    assert [r["account_ref"] for r in paged["items"]] == ["T3", "A2"]
    assert (paged["total"], paged["page_size"]) == (3, 2)


def test_one_to_one_and_picker_offers_only_unmapped_clients(ready: Api) -> None:
    assert ready.put("mappings/accounts/A1", json={"halo_client_id": 1}).status_code == 200
    taken = ready.put("mappings/accounts/A2", json={"halo_client_id": 1})
    assert taken.status_code == 422
    assert "already mapped to account 'A1'" in taken.json()["detail"]

    picker = ready.get("mappings/halo-clients").json()
    assert sorted(c["halo_client_id"] for c in picker) == [2, 3]
    by_id = ready.get("mappings/halo-clients", params={"search": "3"}).json()
    assert [c["halo_client_id"] for c in by_id] == [3]
    odd = ready.get("mappings/halo-clients", params={"search": "²"})
    assert odd.status_code == 422
    assert odd.json()["errors"][0]["location"] == "query.search"

    unknown = ready.put("mappings/accounts/NOPE", json={"halo_client_id": 2})
    assert unknown.status_code == 404
    assert "NOPE" in unknown.json()["detail"]
    gone = ready.put("mappings/accounts/A2", json={"halo_client_id": 999})
    assert gone.status_code == 404
    assert "Sync Organizations" in gone.json()["detail"]

    removed = ready.delete("mappings/accounts/A1")
    assert removed.json() == {"ref": "A1", "removed": True}
    assert ready.delete("mappings/accounts/A1").json()["removed"] is False


def test_invoice_line_target_requires_an_invoice(ready: Api) -> None:
    changed = ready.patch("settings", json={"target": "invoice_line"})
    assert changed.status_code == 200
    required = ready.put("mappings/accounts/A1", json={"halo_client_id": 1})
    assert required.status_code == 422
    assert required.json()["detail"].startswith("Required:")
    ready.pull_customers()  # now with the recurring invoices
    picker = ready.get("mappings/halo-clients").json()
    assert all(len(client["recurring_invoices"]) == 1 for client in picker)
    row = ready.put("mappings/accounts/A1", json={"halo_client_id": 1}).json()
    assert row["recurring_invoice_id"] is not None
    wrong = ready.put(
        "mappings/accounts/A2", json={"halo_client_id": 2, "recurring_invoice_id": 12345}
    )
    assert wrong.status_code == 422
    assert "12345" in wrong.json()["detail"]


def test_suggest_then_accept_never_overwrites(ready: Api) -> None:
    assert ready.put("mappings/accounts/A2", json={"halo_client_id": 3}).status_code == 200
    proposed = ready.post("mappings/accounts/suggest", json={"min_score": 50})
    assert proposed.status_code == 200
    suggestions = proposed.json()["suggestions"]
    assert any(s["account_ref"] == "A1" and s["halo_client_id"] == 1 for s in suggestions)
    assert all(s["account_ref"] != "A2" for s in suggestions)
    assert proposed.json()["saved"] == 0
    assert ready.get("mappings/accounts", params={"status": "mapped"}).json()["total"] == 1

    accepted = ready.post(
        "mappings/accounts/suggest", json={"min_score": 50, "accept": True, "account_refs": ["A1"]}
    )
    assert accepted.json()["saved"] == 1
    grid = ready.get("mappings/accounts", params={"status": "mapped", "sort": "account_ref"})
    assert [(r["account_ref"], r["halo_client_id"]) for r in grid.json()["items"]] == [
        ("A1", 1),
        ("A2", 3),
    ]


def test_services_and_summary(ready: Api) -> None:
    summary = ready.get("mappings/summary").json()
    assert summary["can_finish"] is False
    assert summary["blocking"] == ["Map at least one service to a Halo item."]
    items = ready.get("mappings/halo-items", params={"search": "back"}).json()
    assert items == [{"halo_item_id": 2, "name": "Backup", "inactive": False}]

    mapped = ready.put("mappings/services/MAIL", json={"halo_item_id": 1})
    assert mapped.json()["halo_item_name"] == "Mail Protection"
    services = ready.get("mappings/services", token=ready.viewer).json()
    assert services["total"] == 2
    assert {s["service_ref"]: s["mapped"] for s in services["items"]} == {
        "MAIL": True,
        "BKP": False,
    }
    summary = ready.get("mappings/summary").json()
    assert (summary["services_mapped"], summary["services_unmapped"]) == (1, 1)
    assert (summary["accounts_total"], summary["accounts_mapped"]) == (3, 0)
    assert summary["can_finish"] is True
    assert ready.delete("mappings/services/MAIL").json()["removed"] is True
    bad = ready.put("mappings/services/MAIL", json={"halo_item_id": "one"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["location"] == "$.halo_item_id"


def test_a_response_error_blocks_finishing_setup_as_in_the_wizard(ready: Api) -> None:
    """One rule (``setup_readiness``): a mapping whose Halo client Sync Organizations no
    longer sees shows Response Error and blocks Finish, in the REST summary as in the UI."""
    from halosync.store.account_grid import refresh_mapping_columns
    from halosync.store.models import HaloClient

    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    assert ready.put("mappings/accounts/A1", json={"halo_client_id": 1}).status_code == 200
    assert ready.get("mappings/summary").json()["can_finish"] is True
    with ready.database.session() as session:
        session.query(HaloClient).filter_by(workspace_id=ready.acme, halo_id=1).delete()
        refresh_mapping_columns(session, ready.acme)  # as Sync Organizations does after
    summary = ready.get("mappings/summary").json()
    assert summary["can_finish"] is False
    assert summary["blocking"] == [
        "1 mapping(s) show Response Error: run Sync Organizations again."
    ]


def test_setup_cannot_finish_before_the_connection_is_tested(api: Api) -> None:
    summary = api.get("mappings/summary").json()
    assert summary["can_finish"] is False
    assert summary["blocking"] == [
        "Save the connection settings first.",
        "Map at least one service to a Halo item.",
    ]


def test_licences_are_created_on_mapping_when_the_workspace_asks(ready: Api) -> None:
    from halosync.jobs.execute import RunExecutor

    worker = RunExecutor(ready.database, ready.settings, halo_factory=ready.halo_factory)
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    plain = ready.put("mappings/accounts/A2", json={"halo_client_id": 2})
    assert plain.json()["follow_up"] is None  # the setting is off: licences wait for a sync

    on = ready.patch("settings", json={"create_licence_on_mapping": True})
    assert on.status_code == 200, on.text
    mapped = ready.put("mappings/accounts/A1", json={"halo_client_id": 1})
    assert mapped.status_code == 200, mapped.text
    note = mapped.json()["follow_up"]
    assert note.startswith("Creating the licences of A1 in HaloPSA (run ")
    run_id = int(note.rsplit("run ", 1)[1].rstrip(")."))
    worker.execute(run_id)
    licences = [lic for lic in ready.sim.state.records("SoftwareLicence") if lic["client_id"] == 1]
    assert [(lic["name"], lic["count"]) for lic in licences] == [("Mail Protection", 10)]
    # Only A1 was synced: A2's licence waits for the next sync.
    assert not [lic for lic in ready.sim.state.records("SoftwareLicence") if lic["client_id"] == 2]


def test_grid_filters_by_account_and_halo_client_status(ready: Api) -> None:
    trial = ready.get("mappings/accounts", params={"account_status": "trial"}).json()
    assert [row["account_ref"] for row in trial["items"]] == ["T3"]
    ready.put("mappings/accounts/A1", json={"halo_client_id": 1})
    active = ready.get("mappings/accounts", params={"halo_client_status": "active"}).json()
    assert [row["account_ref"] for row in active["items"]] == ["A1"]
    bad = ready.get("mappings/accounts", params={"halo_client_status": "asleep"})
    assert bad.status_code == 422


def _crowd(count: int) -> dict[str, Any]:
    """``count`` accounts whose references contain "7" many times over, plus account "7"
    (named to sort last) with one subscription."""
    accounts = [
        {"ref": f"{n}7", "name": f"Crowd {n:05d}", "status": "active", "billed": True}
        for n in range(count)
    ]
    accounts.append({"ref": "7", "name": "Zulu Seven Ltd", "status": "active", "billed": True})
    return {
        "accounts": accounts,
        "services": [{"ref": "MAIL", "name": "Mail Protection"}],
        "subscriptions": [
            {
                "account_ref": "7",
                "service_ref": "MAIL",
                "quantity": 3,
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
            }
        ],
    }


def test_mapping_one_of_thousands_of_similar_accounts_answers_its_row(ready: Api) -> None:
    from halosync.jobs.execute import RunExecutor

    imported = ready.post("usage", json=_crowd(2_000))
    assert imported.status_code == 200, imported.text
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    assert ready.patch("settings", json={"create_licence_on_mapping": True}).status_code == 200

    mapped = ready.put("mappings/accounts/7", json={"halo_client_id": 3})
    assert mapped.status_code == 200, mapped.text
    row = mapped.json()
    assert (row["account_ref"], row["status"], row["halo_client_id"]) == ("7", "mapped", 3)
    note = row["follow_up"]
    assert note.startswith("Creating the licences of 7 in HaloPSA (run "), note
    RunExecutor(ready.database, ready.settings, halo_factory=ready.halo_factory).execute(
        int(note.rsplit("run ", 1)[1].rstrip(").")),
    )
    licences = [lic for lic in ready.sim.state.records("SoftwareLicence") if lic["client_id"] == 3]
    assert [(lic["name"], lic["count"]) for lic in licences] == [("Mail Protection", 3)]


def test_the_grids_carry_the_quantity_rules_and_filter_the_excluded(ready: Api) -> None:
    excluded = ready.put(
        "rules/exclusion", params={"account_ref": "A2"}, json={"reason": "internal use"}
    )
    assert excluded.status_code == 200, excluded.text
    pair = ready.patch(
        "rules", params={"account_ref": "A1", "service_ref": "MAIL"}, json={"free": 2}
    )
    assert pair.status_code == 200, pair.text
    service = ready.patch("rules", params={"service_ref": "MAIL"}, json={"minimum": 25})
    assert service.status_code == 200, service.text
    rows = {r["account_ref"]: r for r in ready.get("mappings/accounts").json()["items"]}
    assert (rows["A2"]["excluded"], rows["A2"]["status"]) == ("internal use", "unmapped")
    assert rows["A1"]["service_rules"] == {"MAIL": "free 2"}
    only = ready.get("mappings/accounts", params={"excluded": "true"}, token=ready.viewer).json()
    assert [r["account_ref"] for r in only["items"]] == ["A2"]
    services = {r["service_ref"]: r for r in ready.get("mappings/services").json()["items"]}
    assert (services["MAIL"]["rule"], services["MAIL"]["excluded"]) == ("minimum 25", None)
    assert services["BKP"]["rule"] == ""
