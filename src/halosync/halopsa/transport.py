"""Turning httpx2 transport failures and Halo's error bodies into plain words."""

from __future__ import annotations

import json
import re
import socket
import ssl
from dataclasses import dataclass

import httpx2

from halosync.halopsa.errors import (
    DnsResolutionError,
    HaloError,
    HaloTimeoutError,
    HostUnreachableError,
    InvalidServerUrlError,
    TlsError,
)

_DNS_HINTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)
_TLS_HINTS = ("certificate", "ssl", "tls", "handshake")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_MESSAGE_KEYS = (
    "errorMessage",
    "Message",
    "message",
    "error_description",
    "error",
    "detail",
    "title",
)
_MESSAGE_LIMIT = 300
_FIELDS_SHOWN = 3


@dataclass(frozen=True)
class TransportFailure:
    """A failed exchange: the error to show, whether Halo may have received the request, and
    whether trying again may help."""

    error: HaloError
    maybe_sent: bool
    transient: bool


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_transport_error(exc: httpx2.TransportError, url: str) -> TransportFailure:
    """Map a transport error to a typed Halo error, knowing whether the request left us."""
    chain = _causes(exc)
    text = " ".join(str(e) for e in chain).lower()
    host = httpx2.URL(url).host
    if isinstance(exc, httpx2.UnsupportedProtocol):
        return TransportFailure(
            InvalidServerUrlError(
                f"The address {url!r} does not use http or https.",
                fix="Start the server address with https://.",
            ),
            maybe_sent=False,
            transient=False,
        )
    if any(isinstance(e, ssl.SSLError) for e in chain) or (
        isinstance(exc, httpx2.ConnectError) and any(h in text for h in _TLS_HINTS)
    ):
        return TransportFailure(
            TlsError(
                f"The secure (TLS) connection to {host} failed: {_first_line(exc)}.",
                fix="Check the server address is the Halo instance's own https address and "
                "that its certificate is valid and trusted on this machine.",
            ),
            maybe_sent=False,
            transient=False,
        )
    if any(isinstance(e, socket.gaierror) for e in chain) or any(h in text for h in _DNS_HINTS):
        return TransportFailure(
            DnsResolutionError(
                f"The host name {host!r} does not resolve (DNS lookup failed).",
                fix="Check the server address for typos; it is shown in Halo under "
                "Configuration > Integrations > HaloPSA API > API Details.",
            ),
            maybe_sent=False,
            transient=False,
        )
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
        return TransportFailure(
            HostUnreachableError(
                f"Could not connect to {host}: {_first_line(exc)}.",
                fix="Check the server address and that the Halo instance is up and reachable "
                "from this machine (firewall, proxy).",
            ),
            maybe_sent=False,
            transient=True,
        )
    return TransportFailure(
        HaloTimeoutError(
            f"Halo at {host} did not answer in time or dropped the connection "
            f"({type(exc).__name__}).",
            fix="Try again later; if it keeps happening, check the instance's health.",
        ),
        maybe_sent=True,
        transient=True,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def is_html(response: httpx2.Response) -> bool:
    """Whether Halo answered with an HTML page instead of JSON."""
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.text.lstrip()[:15].lower().startswith(
        ("<!doctype", "<html")
    )


PARSED_JSON = "halosync.json"
"""Where :func:`read_json` keeps an answer's parsed JSON (``response.extensions``)."""


def read_json(response: httpx2.Response) -> str | None:
    """Parse a successful answer once, keeping the result under :data:`PARSED_JSON`; what
    it is instead of JSON (an HTML page by its title, JSON cut off), or None."""
    content = response.content
    if not content.strip():
        return None
    if is_html(response):
        title = _TITLE.search(response.text)
        name = _TAGS.sub("", title.group(1)).strip()[:200] if title else ""
        return f"an HTML page titled {name!r}" if name else "an HTML page"
    try:
        response.extensions[PARSED_JSON] = json.loads(content)
    except ValueError as error:
        where = f" at byte {error.pos:,}" if isinstance(error, json.JSONDecodeError) else ""
        return f"JSON cut off or malformed ({len(content):,} bytes; {error.args[0]}{where})"
    return None


def halo_message(response: httpx2.Response) -> str | None:
    """The human text in one of Halo's many error body shapes, cut to a sentence or two."""
    text = response.text
    if not text.strip():
        return None
    if is_html(response):
        if "something went wrong" in text.lower():
            return "an HTML page saying 'Sorry, something went wrong'"
        title = _TITLE.search(text)
        if title:
            return _TAGS.sub("", title.group(1)).strip()[:200] or "an HTML error page"
        return "an HTML error page"
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:_MESSAGE_LIMIT]
    return _message_from_json(body)


def halo_field_errors(response: httpx2.Response) -> dict[str, tuple[str, ...]]:
    """Halo's messages per field path (``[0].id``) in a refusal; empty when it named none."""
    if is_html(response):
        return {}
    try:
        body = json.loads(response.text)
    except ValueError:
        return {}
    return _field_errors(body)


def _field_errors(body: object) -> dict[str, tuple[str, ...]]:
    # Halo answers model-binding errors flat ({"[0].id": ["..."]}); a stock ASP.NET API
    # wraps the same map as {"title": "One or more validation errors occurred.", "errors"}.
    if not isinstance(body, dict):
        return {}
    wrapped = body.get("errors")
    source = wrapped if isinstance(wrapped, dict) else body
    found: dict[str, tuple[str, ...]] = {}
    for path, value in source.items():
        texts = [value] if isinstance(value, str) and source is wrapped else value
        if isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts):
            found[str(path)] = tuple(t.strip() for t in texts)
    return found


def _message_from_json(body: object) -> str | None:
    if isinstance(body, str):
        return body[:_MESSAGE_LIMIT]
    if isinstance(body, list):
        parts = [m for m in (_message_from_json(item) for item in body[:3]) if m]
        return "; ".join(parts) or None
    if isinstance(body, dict):
        # The field messages say what is wrong; a wrapper's title only that something is.
        fields = _field_errors(body)
        if fields:
            parts = [f"{path}: {' '.join(texts)}" for path, texts in fields.items()]
            shown = "; ".join(parts[:_FIELDS_SHOWN])
            if len(parts) > _FIELDS_SHOWN:
                shown += f"; and {len(parts) - _FIELDS_SHOWN} more"
            return shown[:_MESSAGE_LIMIT]
        for key in _MESSAGE_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:_MESSAGE_LIMIT]
    return None
