"""What the client needs to reach one Halo instance, and how its addresses are normalised.

Halo shows two addresses under Configuration > Integrations > Halo API > API Details: the
resource server and the authorisation server. Users paste them in many forms (with or
without ``/api``, ``/auth``, trailing slashes); this module turns any of them into one
resource base URL and one token URL.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx2
from pydantic import SecretStr

from halosync.halopsa.errors import AddressNotAllowedError, InvalidServerUrlError
from halosync.logging import register_secret

# Spellings users (and other tools, e.g. CIPP's "None") use for "this instance has no tenant".
_NO_TENANT = frozenset({"", "not set", "notset", "none", "null", "n/a"})


def normalise_tenant(tenant: str | None) -> str | None:
    """The tenant to send, or None for on-premise instances ("Not set", "None", blank)."""
    if tenant is None:
        return None
    cleaned = tenant.strip()
    return None if cleaned.lower() in _NO_TENANT else cleaned


def _split_http_url(url: str, what: str) -> tuple[str, str, str]:
    """Validate an http(s) URL with a host; return (scheme, netloc, path without slashes)."""
    text = url.strip()
    if not text:
        raise InvalidServerUrlError(f"The {what} is empty.", fix=f"Enter the {what}.")
    if "://" not in text:
        raise InvalidServerUrlError(
            f"The {what} {text!r} has no protocol.",
            fix="Start it with https:// (for example https://yourcompany.halopsa.com).",
        )
    parts = urlsplit(text)
    if parts.scheme.lower() in ("http", "https"):
        try:
            httpx2.URL(text)
        except httpx2.InvalidURL as invalid:
            raise InvalidServerUrlError(
                f"The {what} {text!r} is not a valid address ({invalid}).",
                fix="Enter it as https://yourcompany.halopsa.com.",
            ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidServerUrlError(
            f"The {what} {text!r} uses the protocol {parts.scheme!r}; Halo is reached over https.",
            fix="Start it with https://.",
        )
    if not parts.hostname:
        raise InvalidServerUrlError(
            f"The {what} {text!r} has no host name.",
            fix="Enter it as https://yourcompany.halopsa.com.",
        )
    if parts.query or parts.fragment:
        raise InvalidServerUrlError(
            f"The {what} {text!r} has a query or fragment.",
            fix="Enter only the address, without '?' or '#' parts.",
        )
    path = parts.path.rstrip("/")
    return parts.scheme.lower(), parts.netloc, path


def normalise_server_url(server_url: str) -> str:
    """The instance's base URL (no trailing slash, no ``/api``): resources are at ``/api``."""
    scheme, netloc, path = _split_http_url(server_url, "server address")
    if path.lower().endswith("/api"):
        path = path[: -len("/api")]
    return urlunsplit((scheme, netloc, path, "", ""))


def token_url_for(server_url: str, auth_server_url: str | None) -> str:
    """The token endpoint: ``<auth server>/token``, the auth server defaulting to ``<server>/auth``.

    Trailing slashes are dropped first, so ``.../auth/`` never becomes ``.../auth//token``;
    an auth server pasted with ``/token`` already on it is used as it is.
    """
    if auth_server_url is None or not auth_server_url.strip():
        base = normalise_server_url(server_url) + "/auth"
    else:
        scheme, netloc, path = _split_http_url(auth_server_url, "authorisation server")
        if path.lower().endswith("/token"):
            path = path[: -len("/token")]
        base = urlunsplit((scheme, netloc, path, "", ""))
    return base + "/token"


@dataclass(frozen=True)
class HaloConnectionConfig:
    """How to reach and authenticate to one Halo instance. Construction validates the URLs."""

    server_url: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    auth_server_url: str | None = None
    tenant: str | None = None
    scopes: tuple[str, ...] = ()
    issued_token_before: bool = False
    """Halo has issued this connection a token before (its last test passed): an error
    page from the token endpoint is then a passing fault, not a set-up mistake."""

    def __post_init__(self) -> None:
        register_secret(self.client_secret.get_secret_value())
        normalise_server_url(self.server_url)
        token_url_for(self.server_url, self.auth_server_url)
        if not self.client_id.strip():
            raise InvalidServerUrlError("The client ID is empty.", fix="Enter the client ID.")

    @property
    def base_url(self) -> str:
        """The instance's base URL, e.g. ``https://acme.halopsa.com``."""
        return normalise_server_url(self.server_url)

    @property
    def api_url(self) -> str:
        """The resource server, e.g. ``https://acme.halopsa.com/api``."""
        return self.base_url + "/api"

    @property
    def token_url(self) -> str:
        """The token endpoint without query string."""
        return token_url_for(self.server_url, self.auth_server_url)

    @property
    def effective_tenant(self) -> str | None:
        """The tenant to send, None when unset."""
        return normalise_tenant(self.tenant)

    @property
    def instance_key(self) -> str:
        """Identifies the Halo instance for the shared rate budget (its lower-cased base URL)."""
        return self.base_url.lower()


def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address are judged by that address.
        teredo = ip.teredo[1] if ip.teredo else None
        for embedded in (ip.ipv4_mapped, ip.sixtofour, teredo):
            if embedded is not None and _forbidden_address(str(embedded)):
                return True
    # Anything not globally reachable (private, loopback, link-local, shared 100.64/10,
    # documentation, benchmarking...) is halosync's own network, not a Halo instance.
    return bool(
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
    )


def addresses_of(host: str) -> list[str]:
    """All addresses a host name resolves to; raises :class:`socket.gaierror` (or
    :class:`UnicodeError` for a name IDNA refuses) when it does not resolve."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def resolve_host(host: str) -> list[str]:
    """All addresses a host name resolves to (empty when it does not resolve)."""
    try:
        return addresses_of(host)
    except (socket.gaierror, UnicodeError):
        return []


def check_outbound_url(
    url: str,
    *,
    allow_private_networks: bool,
    resolve: bool = False,
    addresses: Iterable[str] | None = None,
) -> None:
    """Refuse plain http and loopback/private/link-local hosts unless explicitly allowed.

    Guards against a connection being pointed at halosync's own network (SSRF). With
    ``resolve`` the host name is looked up and every address it resolves to is checked; a
    name that does not resolve passes here and fails later with a DNS error.
    """
    _split_http_url(url, "server address")
    if allow_private_networks:
        return
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    fix = (
        "Use the instance's public https address, or set HALOSYNC_ALLOW_PRIVATE_NETWORKS=true "
        "if halosync must reach a Halo (or simulator) on a local network."
    )
    if parts.scheme.lower() != "https":
        raise AddressNotAllowedError(f"The address {url!r} uses plain http.", fix=fix)
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise AddressNotAllowedError(f"The address {url!r} points at a local host.", fix=fix)
    candidates: list[str] = []
    try:
        ipaddress.ip_address(host.strip("[]"))
        candidates.append(host.strip("[]"))
    except ValueError:
        if addresses is not None:
            candidates.extend(addresses)
        elif resolve:
            candidates.extend(resolve_host(host))
    for address in candidates:
        if _forbidden_address(address):
            raise AddressNotAllowedError(
                f"The address {url!r} resolves to {address}, a loopback or private network "
                "address.",
                fix=fix,
            )
