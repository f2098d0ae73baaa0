"""The REST API meets hostile input: never a 500, always a clear error naming where.

Deep nesting and bytes that are not UTF-8 in ``POST /usage`` and ``POST /import``;
references with URL-special characters in every route that takes one in its path; digits
that only look like digits; field errors and unknown references reported together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import params
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from halosync.settings import Settings
from halosync.sources.readers import MAX_JSON_DEPTH
from halosync.store.database import Database
from halosync.web.api.json_body import JsonBodyRoute
from halosync.web.app import create_app
from tests.web.api.conftest import CLIENT_ID, SERVER, USAGE, Api

DEEP = 1200
# A reference may be any text: these are what URLs treat specially.
HOSTILE_REFS = [
    "acme/eu",
    "/leading",
    "trailing/",
    "a//b",
    "50%_off",
    "%2F",
    "what?x=1",
    "#1",
    "with space",
    "plus+sign",
    "..",
    ".",
    "../etc",
    "ü/ß",
    "back\\slash",
]


def _segment(ref: str) -> str:
    """``ref`` as one path segment: everything percent-encoded, dots too (clients drop
    ``.`` and ``..`` segments as RFC 3986 tells them to)."""
    return quote(ref, safe="").replace(".", "%2E")


def _subscription(account: str, service: str, **changes: Any) -> dict[str, Any]:
    return {
        "account_ref": account,
        "service_ref": service,
        "quantity": 3,
        "start_date": "2024-01-01",
        "billing_cycle": "Monthly",
        "term": "Monthly",
    } | changes


def _deep_body() -> tuple[str, int]:
    prefix = '{"subscriptions": '
    return prefix + "[" * DEEP + "]" * DEEP + "}", len(prefix) + MAX_JSON_DEPTH


def test_deeply_nested_json_in_the_usage_body_is_a_422_naming_where(api: Api) -> None:
    body, column = _deep_body()
    response = api.post(
        "usage", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "location": f"line 1, column {column}",
            "message": f"nested more than {MAX_JSON_DEPTH} levels deep, inside "
            "$.subscriptions[0] (a usage document needs 3)",
        }
    ]


def test_deeply_nested_json_upload_is_a_422_naming_where(api: Api) -> None:
    body, column = _deep_body()
    response = api.post("import", files={"file": ("deep.json", body, "application/json")})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["location"] == f"line 1, column {column}"
    assert api.get("accounts").json()["total"] == 0


def test_a_byte_that_is_not_utf8_is_named_at_its_line_in_the_body_and_in_uploads(
    api: Api,
) -> None:
    lines = [
        json.dumps({"ref": "A1", "name": "Acme", "status": "active", "billed": True}),
        json.dumps({"ref": "B1", "name": "Beta", "status": "active", "billed": True}),
    ]
    text = '{"accounts": [\n' + ",\n".join(lines) + "\n]}"
    raw = text.encode().replace(b'"Beta"', b'"B\xe9ta"')
    offset = raw.index(b"\xe9")
    response = api.post("usage", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "location": f"line 3, column {lines[1].index('Beta') + 2}",
            "message": f"is not UTF-8 text (byte 0xE9 at offset {offset}); send the body as UTF-8",
        }
    ]
    header = "account_ref,account_name,account_status,billed,service_ref,service_name,"
    header += "quantity,start_date,billing_cycle,term\n"
    row = "A{n},Acme,active,true,MAIL,Mail Protection,1,2024-01-01,Monthly,Monthly\n"
    csv = (header + "".join(row.format(n=n) for n in range(400))).encode()
    csv = csv.replace(b"A333,Acme", b"A333,Acm\xff")
    upload = api.post("import", files={"file": ("usage.csv", csv, "text/csv")})
    assert upload.status_code == 422, upload.text
    assert upload.json()["errors"] == [
        {
            "location": "line 335, column account_name",
            "message": "is not UTF-8 text (byte 0xFF); save the file as UTF-8",
        }
    ]
    assert api.get("accounts").json()["total"] == 0


def test_field_errors_and_unknown_references_come_in_one_answer(api: Api) -> None:
    body = {
        "accounts": [{"ref": "A1", "name": "Acme", "status": "paused", "billed": True}],
        "services": [{"ref": "MAIL", "name": "Mail"}],
        "subscriptions": [
            _subscription("A1", "MAIL", quantity="-1"),
            _subscription("NOPE", "MAIL"),
            _subscription("A1", "GONE"),
        ],
    }
    response = api.post("usage", json=body)
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == [
        "$.accounts[0].status",
        "$.subscriptions[0].quantity",
        "$.subscriptions[1].account_ref",
        "$.subscriptions[2].service_ref",
    ]


def _ref_routes(api: Api) -> set[tuple[str, str]]:
    """Every (method, path) of the API whose path carries an account or service reference
    (the route table as the OpenAPI document lists it)."""
    paths = api.get("/openapi.json", token="").json()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        if "_ref}" in path
        for method in operations
    }


def test_refs_with_url_special_characters_work_in_every_route_that_takes_one(ready: Api) -> None:
    accounts = [
        {"ref": ref, "name": f"Account {n}", "status": "active", "billed": True}
        for n, ref in enumerate(HOSTILE_REFS)
    ]
    services = [{"ref": ref, "name": f"Service {n}"} for n, ref in enumerate(HOSTILE_REFS)]
    imported = ready.post("usage", json={"accounts": accounts, "services": services})
    assert imported.status_code == 200, imported.text
    exercised: set[tuple[str, str]] = set()
    prefix = "/api/v1/workspaces/{workspace}/mappings"
    for ref in HOSTILE_REFS:
        segment = _segment(ref)
        mapped = ready.put(f"mappings/accounts/{segment}", json={"halo_client_id": 3})
        assert mapped.status_code == 200, (ref, mapped.text)
        assert (mapped.json()["account_ref"], mapped.json()["status"]) == (ref, "mapped")
        unmapped = ready.delete(f"mappings/accounts/{segment}")
        assert unmapped.json() == {"ref": ref, "removed": True}, ref
        service = ready.put(f"mappings/services/{segment}", json={"halo_item_id": 2})
        assert service.status_code == 200, (ref, service.text)
        assert (service.json()["service_ref"], service.json()["halo_item_id"]) == (ref, 2)
        gone = ready.delete(f"mappings/services/{segment}")
        assert gone.json() == {"ref": ref, "removed": True}, ref
    exercised |= {
        ("PUT", f"{prefix}/accounts/{{account_ref}}"),
        ("DELETE", f"{prefix}/accounts/{{account_ref}}"),
        ("PUT", f"{prefix}/services/{{service_ref}}"),
        ("DELETE", f"{prefix}/services/{{service_ref}}"),
    }
    # A route added later with a reference in its path must be exercised here too.
    assert _ref_routes(ready) == exercised


def test_a_mapped_account_with_a_slash_in_its_ref_syncs_on_its_own(ready: Api) -> None:
    ref = "acme/eu"
    body = {
        "accounts": [{"ref": ref, "name": "Acme EU", "status": "active", "billed": True}],
        "subscriptions": [_subscription(ref, "MAIL")],
    }
    assert ready.post("usage", json=body).status_code == 200
    assert ready.put(f"mappings/accounts/{_segment(ref)}", json={"halo_client_id": 3}).is_success
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": 1}).is_success
    row = ready.get("mappings/accounts", params={"search": "acme/"}).json()["items"]
    assert [(r["account_ref"], r["halo_client_id"]) for r in row] == [(ref, 3)]
    preview = ready.post("syncs/usage/preview", json={"account_ref": ref})
    assert preview.status_code == 200, preview.text
    assert [(c["account_ref"], c["action"]) for c in preview.json()["changes"]] == [(ref, "create")]


def test_a_search_for_a_wildcard_finds_only_itself(ready: Api) -> None:
    body = {
        "accounts": [
            {"ref": "50%_off", "name": "Discount", "status": "active", "billed": True},
            {"ref": "5000", "name": "Plain", "status": "active", "billed": True},
        ]
    }
    assert ready.post("usage", json=body).status_code == 200
    found = ready.get("mappings/accounts", params={"search": "50%_"}).json()["items"]
    assert [r["account_ref"] for r in found] == ["50%_off"]
    assert ready.get("mappings/accounts", params={"search": "%"}).json()["total"] == 1


@pytest.mark.parametrize("value", ["１２", "١٢", "12.５", "²"])
def test_look_alike_digits_are_not_a_price_quantity_or_id(ready: Api, value: str) -> None:
    body = {
        "accounts": USAGE["accounts"],
        "services": USAGE["services"],
        "subscriptions": [
            _subscription("A1", "MAIL", cost_price=value, customer_price=value, quantity=value)
        ],
    }
    response = ready.post("usage", json=body)
    assert response.status_code == 422
    assert [e["location"] for e in response.json()["errors"]] == [
        "$.subscriptions[0].quantity",
        "$.subscriptions[0].cost_price",
        "$.subscriptions[0].customer_price",
    ]
    assert ready.put("mappings/accounts/A1", json={"halo_client_id": value}).status_code == 422
    assert ready.put("mappings/services/MAIL", json={"halo_item_id": value}).status_code == 422
    assert ready.get("logs", params={"page": value}).status_code == 422
    assert ready.get(f"runs/{quote(value)}").status_code == 422
    schedule = ready.put("schedules/usage", json={"schedule": f"monthly {value} 18:00"})
    assert schedule.status_code == 422
    daily = ready.put("schedules/usage", json={"schedule": f"daily {value}:00"})
    assert daily.status_code == 422


def _patch_settings(api: Api, body: bytes) -> Any:
    response = api.patch("settings", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    return response.json()["errors"]


def test_every_json_body_is_read_by_the_usage_bodys_rules(api: Api) -> None:
    """Depth, syntax and UTF-8 are one rule for every JSON body, located by line and column
    as in ``POST /usage`` (PATCH /settings got a bare 400 for 100,000 levels, took 40, and
    said ``$[26]`` for a syntax error)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    assert _patch_settings(api, deep) == [
        {
            "location": f"line 1, column {MAX_JSON_DEPTH + 1}",
            "message": f"nested more than {MAX_JSON_DEPTH} levels deep, inside $",
        }
    ]
    prefix = '{"notify_email": '
    forty = prefix + "[" * 40 + "]" * 40 + "}"
    assert _patch_settings(api, forty.encode()) == [
        {
            "location": f"line 1, column {len(prefix) + MAX_JSON_DEPTH}",
            "message": f"nested more than {MAX_JSON_DEPTH} levels deep, inside $.notify_email",
        }
    ]
    broken = '{"cooldown_minutes": 5,\n "notify_on_success": tru}'
    assert _patch_settings(api, broken.encode()) == [
        {"location": "line 2, column 23", "message": "invalid JSON: Expecting value"}
    ]
    latin1 = '{"notify_email": "é@example.com"}'.encode("latin-1")
    assert _patch_settings(api, latin1) == [
        {
            "location": "line 1, column 19",
            "message": "is not UTF-8 text (byte 0xE9 at offset 18); send the body as UTF-8",
        }
    ]
    assert api.get("settings").json()["notify_email"] is None


def _routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_every_route_taking_a_json_body_reads_it_by_that_rule() -> None:
    app = create_app(Settings(database_url="sqlite://"), database=Database("sqlite://"))
    with_body = [
        route
        for route in _routes(app.routes)
        if route.body_field is not None and not isinstance(route.body_field.field_info, params.Form)
    ]
    assert with_body
    assert [r.path for r in with_body if not isinstance(r, JsonBodyRoute)] == []


LONE = "a\ud800b"  # JSON's "a\ud800b": half of a surrogate pair, no character at all
LONE_MESSAGE = (
    "contains half of a UTF-16 surrogate pair (an escape from \\ud800 to \\udfff) without its "
    "other half, which is not a character; send the character itself or both halves"
)
_TEXT_FIELDS = [
    ("accounts", "ref"),
    ("accounts", "name"),
    ("services", "ref"),
    ("services", "name"),
    ("subscriptions", "account_ref"),
    ("subscriptions", "service_ref"),
    ("subscriptions", "billing_cycle"),
    ("subscriptions", "term"),
    ("subscriptions", "status"),
]


def _json_bytes(value: Any) -> bytes:
    """``value`` as JSON bytes, a lone surrogate written as JSON escapes it (ASCII only)."""
    return json.dumps(value).encode()


def test_a_lone_surrogate_in_any_text_field_is_a_422_naming_it(api: Api) -> None:
    body = json.loads(json.dumps(USAGE))
    for kind, field in _TEXT_FIELDS:
        body[kind][0][field] = LONE
    # (A refused reference also leaves the subscriptions naming it without their account.)
    expected = [
        {"location": f"$.{kind}[0].{field}", "message": LONE_MESSAGE}
        for kind, field in _TEXT_FIELDS
    ]
    response = api.post(
        "usage", content=_json_bytes(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert sorted(e["location"] for e in response.json()["errors"] if e in expected) == sorted(
        e["location"] for e in expected
    )
    upload = api.post("import", files={"file": ("usage.json", _json_bytes(body), "text/json")})
    assert upload.status_code == 422, upload.text
    assert sorted(e["location"] for e in upload.json()["errors"] if e in expected) == sorted(
        e["location"] for e in expected
    )
    assert api.get("accounts").json()["total"] == 0


def test_a_lone_surrogate_in_a_quoted_value_or_a_key_is_shown_escaped(api: Api) -> None:
    body = {
        "accounts": [{"ref": "A1", "name": "Acme", "status": LONE, "billed": True}],
        "services": [{"ref": "MAIL", "name": "Mail"}, {"ref": "BKP", "name": "Backup", LONE: 1}],
        "subscriptions": [_subscription("A1", "MAIL", quantity=LONE)],
    }
    response = api.post(
        "usage", content=_json_bytes(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "location": "$.accounts[0].status",
            "message": 'must be one of active, trial, suspended, cancelled, got "a\\ud800b"',
        },
        {"location": "$.services[1]", "message": LONE_MESSAGE},  # the key's object
        {
            "location": "$.subscriptions[0].quantity",
            "message": "must be a number from 0 to 2147483647 with at most 4 decimal places, "
            'got "a\\ud800b"',
        },
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("PUT", "connection", {"server_url": SERVER, "client_id": LONE}, "$.client_id"),
        (
            "PUT",
            "connection",
            {"server_url": SERVER, "client_id": CLIENT_ID, "client_secret": LONE},
            "$.client_secret",
        ),
        (
            "POST",
            "connection/test",
            {"server_url": SERVER, "client_id": CLIENT_ID, "client_secret": LONE},
            "$.client_secret",
        ),
        ("PATCH", "settings", {"notify_email": LONE}, "$.notify_email"),
        ("POST", "tokens", {"name": LONE}, "$.name"),
        ("PUT", "schedules/usage", {"schedule": LONE}, "$.schedule"),
        ("POST", "syncs/usage/preview", {"account_ref": LONE}, "$.account_ref"),
        ("POST", "mappings/accounts/suggest", {"account_refs": [LONE]}, "$.account_refs[0]"),
        ("PUT", "rules/exclusion?service_ref=MAIL", {"reason": LONE}, "$.reason"),
        ("PUT", "rules?service_ref=MAIL", {"excluded": LONE}, "$.excluded"),
        ("PUT", "rules?service_ref=MAIL", {LONE: 1}, "$"),
    ],
)
def test_a_lone_surrogate_in_any_json_body_is_a_422_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], where: str
) -> None:
    # The body's model refuses it before the route reads anything: no data is needed.
    response = api.request(
        method, path, content=_json_bytes(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["location"] == where
    assert error["message"] == LONE_MESSAGE
    assert "\ud800" not in response.text


def test_a_name_with_a_bidirectional_override_is_refused_naming_the_field(api: Api) -> None:
    response = api.post("tokens", json={"name": "ci\u202egpj.exe"})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["location"] == "$.name"
    assert error["message"].startswith("contains the bidirectional control U+202E")
