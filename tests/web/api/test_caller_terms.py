"""REST answers are said in the API caller's terms, and a target switch once records were
written is confirmed and explained (issue 16)."""

from __future__ import annotations

import re

from tests.web.api.conftest import Api

CLI_TERMS = re.compile(
    r"(?<![\w-])--[a-z]|halosync (sync|connection|settings|workspace|keys|import) "
)


def _written(api: Api) -> None:
    """A1 and A2 mapped, MAIL mapped, one usage sync: licences written in Halo."""
    assert api.put("mappings/accounts/A1", json={"halo_client_id": 1}).status_code == 200
    assert api.put("mappings/accounts/A2", json={"halo_client_id": 2}).status_code == 200
    assert api.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    api.sync_usage()
    assert len(api.sim.state.records("SoftwareLicence")) == 2


def test_switching_target_after_writes_is_explained_and_needs_confirm(ready: Api) -> None:
    _written(ready)
    refused = ready.patch("settings", json={"target": "invoice_line"})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["detail"].startswith(
        "Switching from software licences to recurring invoice lines: the 2 licences "
        "halosync already wrote stay in HaloPSA as they are and are no longer updated"
    )
    assert body["errors"] == [
        {
            "location": "$.confirm",
            "message": "must be true to switch the target once records were written",
        }
    ]
    assert not CLI_TERMS.search(refused.text)
    assert ready.get("settings").json()["target"] == "licence"

    switched = ready.patch("settings", json={"target": "invoice_line", "confirm": True})
    assert switched.status_code == 200, switched.text
    assert switched.json()["target"] == "invoice_line"
    # Nothing was written under invoice_line yet: switching back needs no confirmation
    # either way round... except that licences were written, so going back asks too.
    back = ready.patch("settings", json={"target": "licence"})
    assert back.status_code == 200, back.text


def test_switching_target_before_anything_was_written_needs_no_confirm(ready: Api) -> None:
    switched = ready.patch("settings", json={"target": "invoice_line"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["target"] == "invoice_line"


def test_the_connection_does_not_switch_target_behind_the_settings_back(ready: Api) -> None:
    _written(ready)
    refused = ready.connect(target="invoice_line")
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "stay in HaloPSA" in detail
    assert 'PATCH /settings {"target": "invoice_line", "confirm": true}' in detail
    assert not CLI_TERMS.search(refused.text)
    assert ready.get("settings").json()["target"] == "licence"


def test_choosing_among_recurring_invoices_names_the_api_field(ready: Api) -> None:
    ready.sim.state.seed(
        {"recurring_invoices": [{"id": -9, "client_id": 1, "reference": "Second", "lines": []}]}
    )
    assert ready.patch("settings", json={"target": "invoice_line"}).status_code == 200
    ready.pull_customers()
    refused = ready.put("mappings/accounts/A1", json={"halo_client_id": 1})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "has 2 recurring invoices; say which one." in detail
    assert "Send recurring_invoice_id with one of:" in detail
    assert not CLI_TERMS.search(refused.text)


def test_a_missing_connection_is_said_without_cli_commands(api: Api) -> None:
    preview = api.post("syncs/usage/preview")
    assert preview.status_code == 200, preview.text
    assert preview.json()["status"] == "halted"
    assert preview.json()["error"] == "Workspace 'acme' has no Halo connection."
    refused = api.get("connection")
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == (
        "Workspace 'acme' has no Halo connection. Set one with PUT /connection."
    )


def test_an_unknown_halo_client_says_how_to_pull_them_in_api_terms(api: Api) -> None:
    api.connect()
    api.import_usage()
    refused = api.put("mappings/accounts/A1", json={"halo_client_id": 1})
    assert refused.status_code == 404, refused.text
    assert "POST /syncs/customers" in refused.json()["detail"]
    assert not CLI_TERMS.search(refused.text)
