"""``/rules``: read for viewers, write for admins, 422 naming the field, idempotent writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.web.api.conftest import Api


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def errors_of(response: Any, status: int = 422) -> list[tuple[str, str]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"]
    return [(e["location"], e["message"]) for e in body["errors"]]


def test_set_patch_list_effective_history_and_clear(ready: Api) -> None:
    api = ready
    first = ok(api.put("rules", json={"minimum": 5, "rounding": "up"}))
    assert first["changed"] is True
    assert first["scope"] == "workspace"
    assert first["after"]["minimum"] == 5
    assert first["version"]["created_by"].startswith("API token ")

    ok(api.put("rules", params={"service_ref": "MAIL"}, json={"free": 2, "multiple": 5}))
    ok(api.patch("rules", params={"service_ref": "MAIL"}, json={"free": None, "ceiling": 40}))
    pair = {"account_ref": "A2", "service_ref": "MAIL"}
    markup = ok(
        api.put(
            "rules",
            params=pair,
            json={"price_owner": "markup", "markup_percent": "12.5"},
        )
    )
    # Stored, and said: the markup sends nothing while the price mode is off.
    assert [w.startswith("account A2 × service MAIL: the markup sends no price") for w in
            markup["warnings"]] == [True]  # fmt: skip

    listed = ok(api.get("rules", token=api.viewer))["rules"]
    assert [(r["scope"], r["account_ref"], r["service_ref"]) for r in listed] == [
        ("workspace", None, None),
        ("service", None, "MAIL"),
        ("account_service", "A2", "MAIL"),
    ]
    assert listed[1]["rule"]["free"] is None
    assert listed[1]["rule"]["multiple"] == 5
    assert listed[2]["rule"]["markup_percent"] == "12.5"

    effective = ok(api.get("rules/effective", params=pair, token=api.viewer))
    assert effective["rule"]["ceiling"] == {"value": 40, "scope": "service"}
    assert effective["rule"]["minimum"] == {"value": 5, "scope": "workspace"}
    assert effective["rule"]["price_owner"] == {"value": "markup", "scope": "account_service"}

    history = ok(api.get("rules/history", params={"service_ref": "MAIL"}))["versions"]
    assert len(history) == 3  # two of the service's, one of the pair's

    cleared = ok(api.delete("rules", params={"service_ref": "MAIL"}))
    assert cleared["operation"] == "clear"
    assert cleared["after"]["ceiling"] is None
    assert [r["scope"] for r in ok(api.get("rules"))["rules"]] == ["workspace", "account_service"]


def test_writes_are_idempotent(ready: Api) -> None:
    api = ready
    body = {"minimum": 3}
    assert ok(api.put("rules", params={"service_ref": "BKP"}, json=body))["changed"] is True
    again = ok(api.put("rules", params={"service_ref": "BKP"}, json=body))
    assert again["changed"] is False
    assert again["version"] is None
    exclusion = {"reason": "internal"}
    assert ok(api.put("rules/exclusion", params={"account_ref": "A1"}, json=exclusion))["changed"]
    assert not ok(api.put("rules/exclusion", params={"account_ref": "A1"}, json=exclusion))[
        "changed"
    ]
    assert ok(api.delete("rules/exclusion", params={"account_ref": "A1"}))["changed"]
    assert not ok(api.delete("rules/exclusion", params={"account_ref": "A1"}))["changed"]
    assert len(ok(api.get("rules/history"))["versions"]) == 3


def test_an_exclusion_is_read_back_with_its_reason(ready: Api) -> None:
    api = ready
    ok(api.put("rules/exclusion", params={"account_ref": "A1"}, json={"reason": " own use "}))
    effective = ok(api.get("rules/effective", params={"account_ref": "A1", "service_ref": "BKP"}))
    assert effective["rule"]["excluded"] == {"value": "own use", "scope": "account"}
    assert "excluded: own use" in effective["text"]


def test_an_include_overrides_an_account_exclusion_only_when_asked(ready: Api) -> None:
    api = ready
    pair = {"account_ref": "A1", "service_ref": "MAIL"}
    ok(api.put("rules/exclusion", params={"account_ref": "A1"}, json={"reason": "internal"}))
    refused = api.delete("rules/exclusion", params=pair)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert "has no exclusion of its own: the account A1 excludes it (internal)" in detail
    assert "override=true" in detail
    assert refused.json()["errors"][0]["location"] == "query.override"

    done = ok(api.delete("rules/exclusion", params={**pair, "override": "true"}))
    assert done["changed"] is True
    assert done["after"]["included"] is True
    assert done["still_excluded"] is None
    effective = ok(api.get("rules/effective", params=pair))
    assert effective["rule"]["excluded"] == {"value": None, "scope": None}
    assert effective["rule"]["included"] == {"value": True, "scope": "account_service"}
    assert effective["rule"]["overrides"] == {"value": "internal", "scope": "account"}
    assert "included by the account × service rule" in effective["text"]
    # The same through the rule itself; a service has nothing broader to override.
    assert not ok(api.patch("rules", params=pair, json={"included": True}))["changed"]
    places = errors_of(api.patch("rules", params={"service_ref": "MAIL"}, json={"included": True}))
    assert places[0][0] == "$.included"
    places = errors_of(
        api.delete("rules/exclusion", params={"service_ref": "MAIL", "override": "1"})
    )
    assert places[0][0] == "query.override"


def test_refusals_name_the_field_and_change_nothing(ready: Api) -> None:
    api = ready
    mail = {"service_ref": "MAIL"}
    assert errors_of(api.put("rules", params=mail, json={"minimum": -1}))[0][0] == "$.minimum"
    assert errors_of(api.put("rules", params=mail, json={"minimum": 10, "ceiling": 5}))[0][0] == (
        "$.ceiling"
    )
    assert errors_of(api.put("rules", params=mail, json={"price_owner": "markup"}))[0][0] == (
        "$.price_owner"
    )
    places = [
        p for p, _ in errors_of(api.put("rules", params={"account_ref": "A1"}, json={"free": 1}))
    ]
    assert places == ["$.free"]
    places = [p for p, _ in errors_of(api.put("rules", json={"excluded": "all"}))]
    assert places == ["$.excluded"]
    assert errors_of(api.put("rules", json={"maximum": 3}))[0][0] == "$.maximum"
    past = errors_of(api.put("rules", params=mail, json={"minimum": 1, "valid_from": "2020-01-01"}))
    assert past[0][0] == "$.valid_from"
    assert "in the past" in past[0][1]
    assert errors_of(api.delete("rules", params={**mail, "valid_from": "2020-01-01"}))[0][0] == (
        "query.valid_from"
    )
    assert errors_of(api.put("rules/exclusion", json={"reason": "x"}))[0][0] == "$.reason"
    assert errors_of(api.patch("rules", params=mail, json={}))[0][0] == "$"
    many = errors_of(api.put("rules", params=mail, json={"fixed_price": "1.00001"}))
    assert many[0][0] == "$.fixed_price"
    missing = api.put("rules", params={"service_ref": "NOPE"}, json={"minimum": 1})
    assert missing.status_code == 404
    assert "'NOPE'" in missing.json()["detail"]
    assert ok(api.get("rules/history"))["versions"] == []


def test_viewers_read_and_only_admins_write(ready: Api) -> None:
    api = ready
    assert api.put("rules", json={"minimum": 1}, token=api.viewer).status_code == 403
    assert api.delete("rules", token=api.viewer).status_code == 403
    assert api.put("rules/exclusion", params={"account_ref": "A1"}, json={"reason": "x"},
                   token=api.viewer).status_code == 403  # fmt: skip
    assert ok(api.get("rules", token=api.viewer)) == {"rules": []}
    assert api.get("rules", token=api.other_admin).status_code == 404


def test_a_later_day_is_listed_on_that_day_only(ready: Api) -> None:
    api = ready
    later = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    ok(api.put("rules", json={"minimum": 7, "valid_from": later}))
    assert ok(api.get("rules"))["rules"] == []
    assert [r["rule"]["minimum"] for r in ok(api.get("rules", params={"on": later}))["rules"]] == [
        7
    ]


def test_a_rule_set_through_the_api_is_what_the_next_sync_writes(ready: Api) -> None:
    api = ready
    ok(api.put("mappings/accounts/A1", json={"halo_client_id": 1}))
    ok(api.put("mappings/services/MAIL", json={"halo_item_id": 1}))
    ok(api.put("review/policy", json={"change_above_percent": None}))
    ok(api.put("rules", params={"service_ref": "MAIL"}, json={"free": 2, "minimum": 3}))
    preview = ok(api.post("syncs/usage/preview"))
    [planned] = [c for c in preview["changes"] if c["account_ref"] == "A1"]
    assert planned["after"]["count"] == 8  # vendor 10, minus 2 free
    api.sync_usage()
    assert [lic["count"] for lic in api.sim.state.records("SoftwareLicence")] == [8]


def test_a_reason_with_a_nul_is_a_422_on_every_database(any_database_api: Api) -> None:
    # PostgreSQL cannot store a NUL in text: a 422 naming the field, never a 500.
    api = any_database_api
    assert api.connect().status_code == 200
    api.import_usage()
    api.pull_customers()
    refused = errors_of(
        api.put("rules", params={"service_ref": "MAIL"}, json={"excluded": "a\x00b"})
    )
    assert [place for place, _ in refused] == ["$.excluded"]
    refused = errors_of(
        api.put("rules/exclusion", params={"account_ref": "A1"}, json={"reason": "x\x00y"})
    )
    assert [place for place, _ in refused] == ["$.reason"]
    assert ok(api.get("rules/history"))["versions"] == []


@pytest.mark.parametrize("count", [True, "5", 5.0, 5.5])
@pytest.mark.parametrize("field", ["minimum", "free", "ceiling", "multiple"])
def test_a_count_must_be_a_json_integer(ready: Api, field: str, count: Any) -> None:
    refused = errors_of(ready.put("rules", params={"service_ref": "MAIL"}, json={field: count}))
    assert [place for place, _ in refused] == [f"$.{field}"]
    refused = errors_of(ready.patch("rules", params={"service_ref": "MAIL"}, json={field: count}))
    assert [place for place, _ in refused] == [f"$.{field}"]
    assert ok(ready.get("rules/history"))["versions"] == []


@pytest.mark.parametrize("price", [12, 12.5, "12.5"])
def test_a_price_may_be_a_number_or_a_decimal_string(ready: Api, price: Any) -> None:
    rule = {"price_owner": "markup", "fixed_price": price}
    stored = ok(ready.put("rules", params={"service_ref": "MAIL"}, json=rule))
    assert stored["after"]["fixed_price"] in ("12", "12.5", "12.0000", "12.5000", 12, 12.5)
