"""The transport that connects only to the address it checked (no DNS rebinding).

The outbound guard (:func:`~halosync.halopsa.config.check_outbound_url`) resolves a Halo
host name and refuses it when any address is not public. The HTTP library would resolve
the name again when it connects, and a DNS server may answer a public address to the
check and a loopback or private one to the connection (DNS rebinding), reaching
halosync's own network. :class:`CheckedAddressTransport` resolves each host once, checks
every address, and sends each request to the checked address by number, keeping the name
for the Host header and for TLS (SNI and the certificate check).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx2

from halosync.halopsa.config import addresses_of, check_outbound_url


class CheckedAddressTransport(httpx2.AsyncBaseTransport):
    """Sends each request to a checked public address of its host, resolved once."""

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport()
        self._pinned: dict[str, str] = {}

    async def _checked_address(self, request: httpx2.Request) -> str:
        host = request.url.host
        pinned = self._pinned.get(host)
        if pinned is not None:
            return pinned
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        try:
            addresses = await asyncio.to_thread(addresses_of, host)
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except (socket.gaierror, UnicodeError) as error:
            # Never left to the connection's own look-up, which may answer otherwise.
            raise httpx2.ConnectError(str(error), request=request) from error
        check_outbound_url(origin, allow_private_networks=False, addresses=addresses)
        # IPv4 first: a host without an IPv6 route still reaches a dual-stack Halo.
        pinned = min(addresses, key=lambda address: (":" in address, address))
        self._pinned[host] = pinned
        return pinned

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` to the checked address of its host (the name kept for TLS)."""
        host = request.url.host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            address = await self._checked_address(request)
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": host}
        else:
            origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
            check_outbound_url(origin, allow_private_networks=False)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the connections of the wrapped transport."""
        await self._inner.aclose()
