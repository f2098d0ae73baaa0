"""Connection and settings routes against the simulator: texts, masking, confirmation."""

from __future__ import annotations

from tests.web.api.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    READONLY_ID,
    READONLY_SECRET,
    SERVER,
    Api,
)


def test_save_tests_first_and_shows_the_secret_masked(api: Api) -> None:
    assert api.get("connection").status_code == 404

    saved = api.connect()
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["test"]["message"] == "Test is successful."
    assert body["connection"]["client_secret"] == "********"
    assert body["connection"]["server_url"] == SERVER

    shown = api.get("connection", token=api.viewer)
    assert shown.status_code == 200
    assert shown.json()["client_id"] == CLIENT_ID
    assert shown.json()["last_successful_test_at"] is not None
    for response in (saved, shown):
        assert CLIENT_SECRET not in response.text


def test_bad_credentials_are_refused_and_nothing_is_stored(api: Api) -> None:
    refused = api.connect(client_secret="wrong-secret-value")
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail.startswith("Invalid connection configuration.")
    assert "client secret" in detail  # the cause, in plain words
    assert "wrong-secret-value" not in refused.text
    assert api.get("connection").status_code == 404


def test_connection_test_reports_success_or_cause(api: Api) -> None:
    assert api.connect().status_code == 200
    ok = api.post("connection/test")
    assert ok.status_code == 200
    assert ok.json()["success"] is True
    assert ok.json()["message"] == "Test is successful."

    unsaved = api.post(
        "connection/test",
        json={"server_url": SERVER, "client_id": "nobody", "client_secret": "nothing-here"},
    )
    assert unsaved.status_code == 200
    result = unsaved.json()
    assert result["success"] is False
    assert result["message"] == "Test is not successful."
    assert result["cause"]
    assert "nothing-here" not in unsaved.text


def test_missing_permissions_are_named(api: Api) -> None:
    tested = api.post(
        "connection/test",
        json={"server_url": SERVER, "client_id": READONLY_ID, "client_secret": READONLY_SECRET},
    )
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["success"] is False
    assert result["missing_permissions"], result


def test_reset_removes_connection_and_mappings(ready: Api) -> None:
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).status_code == 200
    reset = ready.delete("connection")
    assert reset.status_code == 200
    assert reset.json()["connection_removed"] is True
    assert reset.json()["service_mappings_removed"] == 1
    assert ready.get("connection").status_code == 404


def test_settings_price_mode_needs_confirmation(api: Api) -> None:
    shown = api.get("settings", token=api.viewer).json()
    assert shown["price_mode"] == "off"
    assert shown["log_retention_days"] == 30

    refused = api.patch("settings", json={"price_mode": "totals", "cooldown_minutes": 5})
    assert refused.status_code == 422
    assert "Enabling prices" in refused.json()["detail"]
    assert refused.json()["errors"] == [
        {"location": "$.confirm", "message": "must be true to change the price mode"}
    ]
    # Nothing half-applied: the cooldown in the same request stayed as it was.
    assert api.get("settings").json()["cooldown_minutes"] == shown["cooldown_minutes"]

    changed = api.patch(
        "settings",
        json={
            "price_mode": "totals",
            "confirm": True,
            "cooldown_minutes": 5,
            "log_retention_days": 14,
            "notify_email": "billing@example.com",
            "notify_on_failure": True,
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["price_mode"], body["cooldown_minutes"], body["log_retention_days"]) == (
        "totals",
        5,
        14,
    )
    assert body["notify_email"] == "billing@example.com"
    disabling = api.patch("settings", json={"price_mode": "off"})
    assert "Disabling prices" in disabling.json()["detail"]
    cleared = api.patch("settings", json={"notify_email": ""})
    assert cleared.json()["notify_email"] is None


def test_settings_errors_name_the_field(api: Api) -> None:
    bad = api.patch("settings", json={"notify_email": "not-an-address", "log_retention_days": 0})
    assert bad.status_code == 422
    locations = {e["location"] for e in bad.json()["errors"]}
    assert "$.log_retention_days" in locations
    unknown = api.patch("settings", json={"colour": "blue"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["location"] == "$.colour"
    assert api.get("settings").json()["log_retention_days"] == 30


def test_notifications_need_an_address_in_the_api_as_in_the_ui(api: Api) -> None:
    """One rule (``halosync.sync.preferences.preference_problems``) for both entry points."""
    refused = api.patch("settings", json={"notify_email": "", "notify_on_failure": True})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"location": "$.notify_email", "message": "is needed to send notifications"}
    ]
    assert api.get("settings").json()["notify_on_failure"] is False
