"""A client that goes away before its request body arrived whole (a dropped upload, a
killed script): nothing is changed, and it is not a server error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from tests.web.api.conftest import Api

_ACCOUNTS = {
    "accounts": [
        {"ref": f"A{number}", "name": f"Account {number}", "status": "active", "billed": True}
        for number in range(500)
    ]
}


def _multipart(document: dict[str, Any]) -> tuple[bytes, bytes]:
    boundary = "halosyncboundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="usage.json"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{json.dumps(document)}\r\n--{boundary}--\r\n"
    ).encode()
    return body, f"multipart/form-data; boundary={boundary}".encode()


def _cut_off(api: Api, path: str, body: bytes, content_type: bytes) -> list[int]:
    """POST half of ``body`` and disconnect; the statuses the app sent."""
    scope = api.post_scope(
        path,
        [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
    )
    parts: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True}
    ]
    statuses: list[int] = []

    async def receive() -> MutableMapping[str, Any]:
        if parts:
            return parts.pop()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    asyncio.run(api.app(scope, receive, send))
    return statuses


@pytest.mark.parametrize("route", ["usage", "import"])
def test_an_upload_cut_off_changes_nothing_and_is_no_server_error(api: Api, route: str) -> None:
    if route == "usage":
        body, content_type = json.dumps(_ACCOUNTS).encode(), b"application/json"
    else:
        body, content_type = _multipart(_ACCOUNTS)
    statuses = _cut_off(api, route, body, content_type)
    assert statuses == [400]
    assert api.get("accounts").json()["total"] == 0
    # The same request whole is imported.
    if route == "usage":
        answered = api.post("usage", json=_ACCOUNTS)
    else:
        answered = api.post("import", files={"file": ("usage.json", json.dumps(_ACCOUNTS))})
    assert answered.status_code == 200, answered.text
    assert api.get("accounts").json()["total"] == 500
