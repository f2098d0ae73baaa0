"""The simulator as an ASGI application: rate limit, faults and request log around Halo."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx2

from halosync.simulator.admin import PREFIX, handle_admin
from halosync.simulator.config import SimulatorConfig
from halosync.simulator.faults import Fault, FaultKind, edit_answer
from halosync.simulator.halo_api import HaloApi, HaloRequest, is_halo_path, parse_query
from halosync.simulator.requestlog import RequestLogEntry
from halosync.simulator.responses import (
    Response,
    internal_server_error,
    internal_server_error_plain,
    json_response,
    maintenance_page,
    sorry_page,
    text_response,
)
from halosync.simulator.state import SimulatorState

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ANSWER_FAULTS = frozenset({FaultKind.IGNORE_PAGING, FaultKind.TRICKLE, FaultKind.TRUNCATE})
"""Faults that let the request through and change how it is answered."""

DROP_EXTENSION = "halosync.simulator.drop_connection"
"""Scope extension a server puts in to let the app close the socket without answering."""


class DroppedConnection(httpx2.RemoteProtocolError):
    """Raised in-process for a "drop" fault: what httpx2 raises when a server hangs up."""


class Simulator:
    """The ASGI app of one simulated HaloPSA instance; ``.state`` is its in-memory Halo."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.state = SimulatorState(config)
        self._api = HaloApi(self.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method = str(scope["method"]).upper()
        path = str(scope["path"])
        query_string = bytes(scope.get("query_string", b""))
        body = await _read_body(receive)
        query = parse_query(query_string)
        if path.lower().startswith(PREFIX):
            with self.state.lock:
                response = handle_admin(self.state, method, path, query, body)
            await _send(send, response)
            return
        response, client_id = await self._halo(scope, receive, method, path, query, body)
        self.state.request_log.append(
            RequestLogEntry(
                method=method,
                path=path,
                query=query_string.decode("latin-1"),
                status=response.status if response.status else 0,
                time=self.state.clock.now(),
                body_size=len(body),
                response_size=len(response.body),
                client_id=client_id,
                fault=response.fault,
            )
        )
        if response.status == 0:
            await self._drop(scope)
            return
        if response.trickle_seconds is not None:
            await _trickle(send, receive, response, response.trickle_seconds)
            return
        await _send(send, response)

    async def _halo(
        self,
        scope: Scope,
        receive: Receive,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
    ) -> tuple[Response, str | None]:
        counted = is_halo_path(path)
        if counted and not self.state.limiter.try_admit():
            return self._rate_limited(), None
        fault = self.state.faults.take(method, path, query)
        if fault is not None:
            early = await self._apply_fault(fault, receive)
            if early is not None:
                early.fault = fault.kind.value
                return early, None
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        if fault is not None and fault.kind is FaultKind.IGNORE_PAGING:
            # As an instance that ignores page_size and page_no: every page is page 1, as
            # long as the instance's cap allows.
            query = {**query, "page_size": str(self.config.max_page_size), "page_no": "1"}
        request = HaloRequest(method, path, query, headers, body, _base_url(scope, headers))
        with self.state.lock:
            response, client_id = self._api.handle(request)
        if fault is not None:
            if fault.field_path is not None:
                response = _edited(response, fault)
            if fault.kind is FaultKind.TRICKLE:
                response.trickle_seconds = fault.seconds
            if fault.kind is FaultKind.TRUNCATE:
                response.body = response.body[: len(response.body) // 2]
            response.fault = fault.kind.value
        return response, client_id

    async def _apply_fault(self, fault: Fault, receive: Receive) -> Response | None:
        """The response a fault forces, or None to carry on (after any delay)."""
        kind = fault.kind
        if fault.field_path is not None or kind in _ANSWER_FAULTS:
            return None  # the answer is edited once it is made
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.seconds)
            return None
        if kind is FaultKind.HOLD:
            await self.state.faults.hold(fault)
            return None
        if kind is FaultKind.TIMEOUT:
            if await _client_gave_up(receive, fault.seconds):
                return Response(0)
            return None
        if kind is FaultKind.DROP:
            return Response(0)
        if kind is FaultKind.ERROR:
            return internal_server_error()
        if kind is FaultKind.ERROR_PLAIN:
            return internal_server_error_plain()
        if kind is FaultKind.MAINTENANCE:
            return maintenance_page()
        if kind is FaultKind.HTML_ERROR:
            return sorry_page(reference=f"fault-{fault.id}")
        return self._rate_limited()

    def _rate_limited(self) -> Response:
        """Halo's 429, with the Retry-After header as configured (none by default)."""
        limiter = self.state.limiter
        return text_response(429, limiter.message(), limiter.headers())

    async def _drop(self, scope: Scope) -> None:
        drop = scope.get("extensions", {}).get(DROP_EXTENSION)
        if callable(drop):
            drop()
            return
        raise DroppedConnection("Server disconnected without sending a response.")


def _edited(response: Response, fault: Fault) -> Response:
    """The answer with the fault's field edit applied (JSON answers only)."""
    if not response.content_type.startswith("application/json") or not response.body:
        return response
    document = edit_answer(
        json.loads(response.body),
        fault.field_path or "",
        omit=fault.kind is FaultKind.OMIT_FIELD,
        value=fault.value,
    )
    return json_response(response.status, document, response.headers)


def create_app(config: SimulatorConfig | None = None) -> Simulator:
    """A new simulated HaloPSA instance (empty unless seeded)."""
    return Simulator(config if config is not None else SimulatorConfig())


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _client_gave_up(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; True if the client disconnected first (it timed out)."""
    waiter = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=seconds)
    finally:
        if not waiter.done():
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
    if waiter in done and not waiter.cancelled():
        return waiter.result().get("type") == "http.disconnect"
    return False


async def _send(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": response.raw_headers(),
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def _trickle(send: Send, receive: Receive, response: Response, seconds: float) -> None:
    """Send the answer a byte at a time, ``seconds`` apart, until done or the client leaves."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": response.raw_headers(),
        }
    )
    body = response.body
    for offset in range(len(body)):
        last = offset == len(body) - 1
        await send(
            {"type": "http.response.body", "body": body[offset : offset + 1], "more_body": not last}
        )
        if not last and await _client_gave_up(receive, seconds):
            return


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _base_url(scope: Scope, headers: dict[str, str]) -> str:
    scheme = str(scope.get("scheme", "http"))
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    return f"{scheme}://{host}"
