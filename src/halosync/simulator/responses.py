"""Plain HTTP responses the simulator sends, including Halo's error pages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    """Status, headers and a ready-encoded body."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None
    trickle_seconds: float | None = None
    """Send the body one byte at a time, this long apart (a ``trickle`` fault)."""

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers as ASGI wants them."""
        pairs = [
            (b"content-type", self.content_type.encode("latin-1")),
            (b"content-length", str(len(self.body)).encode("latin-1")),
        ]
        pairs.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
        )
        return pairs


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (compact, UTF-8: Halo returns "£" as is)."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, headers=dict(headers or {}))


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text response."""
    return Response(
        status, text.encode("utf-8"), "text/plain; charset=utf-8", headers=dict(headers or {})
    )


def message_response(status: int, message: str, **extra: Any) -> Response:
    """An error with Halo's ``{"Message": ...}`` body shape."""
    return json_response(status, {"Message": message, **extra})


def internal_server_error() -> Response:
    """Halo's vague 500, as a serialised .NET exception."""
    return json_response(500, {"ClassName": "System.Exception", "Message": "Internal Server Error"})


def internal_server_error_plain() -> Response:
    """Halo's vague 500, as plain text."""
    return text_response(500, "Internal Server Error")


_SORRY_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Halo - Error</title>
<style>
body {{ font-family: Segoe UI, Arial, sans-serif; background: #f4f5f7; color: #1d2939; }}
.box {{ max-width: 640px; margin: 10% auto; background: #fff; padding: 32px; border-radius: 8px; }}
</style>
</head>
<body>
<div class="box">
<h1>Sorry, something went wrong</h1>
<p>An unexpected error occurred. Please try again, or contact your administrator if the
problem persists.</p>
<p class="ref">Reference: {reference}</p>
</div>
<!-- {padding} -->
</body>
</html>
"""


def sorry_page(reference: str) -> Response:
    """Halo's HTML 500 "Sorry, something went wrong" page (real ones are ~280 KB)."""
    html = _SORRY_PAGE.format(reference=reference, padding="halo " * 2000)
    return Response(500, html.encode("utf-8"), "text/html; charset=utf-8")


_MAINTENANCE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Scheduled maintenance</title></head>
<body><h1>We'll be back soon</h1><p>HaloPSA is undergoing scheduled maintenance.</p></body>
</html>
"""


def maintenance_page() -> Response:
    """A 200 HTML page a proxy or load balancer answers while the instance is down."""
    return Response(200, _MAINTENANCE_PAGE.encode("utf-8"), "text/html; charset=utf-8")
