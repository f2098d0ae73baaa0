"""File import, API tokens and the request size limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest

from halosync.sources import upload
from tests.web.api.conftest import Api

HEADER = "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
HEADER += "start_date,billing_cycle,term\n"
GOOD_ROW = "A1,Acme Ltd,active,true,MAIL,Mail Protection,5,2024-01-01,Monthly,Monthly\n"


@pytest.mark.parametrize("where", ["in place", "in a child process"])
def test_csv_upload_imports_and_bad_rows_are_named_by_line_and_column(
    api: Api, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "in a child process":  # as a large file is
        monkeypatch.setattr(upload, "INLINE_UPLOAD_BYTES", 0)
    good = api.post("import", files={"file": ("usage.csv", HEADER + GOOD_ROW, "text/csv")})
    assert good.status_code == 200, good.text
    assert good.json()["subscriptions"]["created"] == 1

    bad_row = "A2,Beta,active,true,MAIL,Mail Protection,minus one,2024-01-01,Monthly,Monthly\n"
    bad = api.post(
        "import", files={"file": ("../../etc/usage.csv", HEADER + GOOD_ROW + bad_row, "text/csv")}
    )
    assert bad.status_code == 422
    body = bad.json()
    assert body["detail"] == "The input has 1 error; nothing was changed."
    assert body["errors"][0]["location"] == "line 3, column quantity"
    accounts = api.get("accounts").json()
    assert [a["ref"] for a in accounts["items"]] == ["A1"]  # nothing half-applied


def test_json_upload_and_unknown_file_type(api: Api) -> None:
    document = (
        '{"accounts": [{"ref": "J1", "name": "Json Co", "status": "active", "billed": true}]}'
    )
    ok = api.post("import", files={"file": ("usage.json", document, "application/json")})
    assert ok.status_code == 200, ok.text
    assert ok.json()["accounts"]["created"] == 1
    wrong = api.post("import", files={"file": ("usage.xlsx", "PK", "application/zip")})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["location"] == "$.file"
    missing = api.post("import", data={"nothing": "here"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["location"] == "$.file"


def test_two_files_in_one_upload_are_refused_naming_them(api: Api) -> None:
    document = '{"accounts": [{"ref": "J1", "name": "Json", "status": "active", "billed": true}]}'
    for files in (
        [
            ("file", ("a.csv", HEADER + GOOD_ROW, "text/csv")),
            ("file", ("b.json", document, "application/json")),
        ],
        [
            ("file", ("a.csv", HEADER + GOOD_ROW, "text/csv")),
            ("other", ("b.json", document, "application/json")),
        ],
    ):
        refused = api.post("import", files=files)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {
                "location": "$.file",
                "message": "2 files were sent (a.csv, b.json); send one file per request",
            }
        ]
    assert api.get("accounts").json()["total"] == 0


def test_oversized_upload_is_refused_before_it_is_read(api: Api) -> None:
    big = HEADER + GOOD_ROW * 20_000  # ~1.4 MB against a 1 MB limit
    refused = api.post("import", files={"file": ("usage.csv", big, "text/csv")})
    assert refused.status_code == 413
    assert "larger than the 1 MB" in refused.json()["detail"]
    assert api.get("accounts").json()["total"] == 0

    async def chunked() -> httpx2.Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(2_000):
                yield b"x" * 1024

        transport = httpx2.ASGITransport(app=api.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as client:
            return await client.post(
                "/api/v1/workspaces/acme/usage",
                content=body(),
                headers={"Authorization": f"Bearer {api.admin}"},
            )

    streamed = asyncio.run(chunked())
    assert streamed.status_code == 413
    assert streamed.json()["errors"][0]["location"] == "body"


def test_tokens_are_shown_once_and_revocable(api: Api) -> None:
    created = api.post("tokens", json={"name": "reporting", "role": "viewer"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("hs_")
    assert api.get("settings", token=token).status_code == 200
    assert api.patch("settings", token=token, json={"cooldown_minutes": 1}).status_code == 403

    listed = api.get("tokens").json()
    assert {t["name"] for t in listed} == {"ci", "ro", "reporting"}
    assert token not in api.get("tokens").text

    revoked = api.delete(f"tokens/{created.json()['id']}")
    assert revoked.json()["revoked_at"] is not None
    refused = api.get("settings", token=token)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert api.delete("tokens/99999").status_code == 404
    bad_role = api.post("tokens", json={"name": "x", "role": "owner"})
    assert bad_role.status_code == 422
    assert bad_role.json()["errors"][0]["location"] == "$.role"
