"""Serving a simulator on a real TCP port (uvicorn), in a thread or in the foreground."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from halosync.ops.listen import bind_port
from halosync.simulator.app import DROP_EXTENSION, Receive, Scope, Send, Simulator


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a scope hook that closes the socket without a response.

    The "drop" fault needs it: an ASGI app has no other way to hang up on a client.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app_with_drop(scope: Scope, receive: Receive, send: Send) -> None:
            if scope.get("type") == "http":
                extensions = dict(scope.get("extensions") or {})
                extensions[DROP_EXTENSION] = self._drop_connection
                scope["extensions"] = extensions
            await inner(scope, receive, send)

        self.app = app_with_drop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
        # algorithm meets the client's delayed ACK and every response waits ~40 ms.
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]

    def _drop_connection(self) -> None:
        if self.cycle is not None:
            # Stops uvicorn from trying to answer on the socket we are closing.
            self.cycle.disconnected = True
        self.transport.abort()


def _config(app: Simulator, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=DroppableH11Protocol,
        ws="none",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


@contextmanager
def serve_in_thread(
    app: Simulator, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` on a real port in a background thread; yield its base URL.

    ``port=0`` picks a free port. The server stops when the block ends.
    """
    sock = bind_port(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, bound_port, log_level))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name=f"halo-simulator-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if failure or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the simulator did not start on {host}:{bound_port}: {failure}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the simulator did not start on {host}:{bound_port} in 10 s")
        time.sleep(0.01)
    display_host = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{display_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(app: Simulator, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve on ``sock`` (:func:`~halosync.ops.listen.bind_port`) in the foreground until
    interrupted (Ctrl-C / SIGTERM)."""
    host, port = sock.getsockname()[:2]
    uvicorn.Server(_config(app, host, port, log_level)).run(sockets=[sock])
