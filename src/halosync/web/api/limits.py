"""Refuse request bodies over ``HALOSYNC_MAX_UPLOAD_MB`` before they are read into memory.

A declared ``Content-Length`` over the limit is refused at once; a body sent without one
(chunked) is counted as it streams in and refused the moment it passes the limit.
"""

from __future__ import annotations

import contextlib
import json

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halosync.settings import Settings

_MB = 1024 * 1024


class _TooLarge(Exception):
    """The body passed the limit while streaming in."""


def too_large_body(limit_bytes: int) -> bytes:
    """The 413 answer, in the API's one error shape."""
    limit_mb = limit_bytes / _MB
    shown = f"{limit_mb:g} MB"
    return json.dumps(
        {
            "detail": f"The request body is larger than the {shown} this server accepts; "
            "nothing was read or changed.",
            "errors": [
                {
                    "location": "body",
                    "message": f"must be at most {limit_bytes} bytes ({shown}); split the "
                    "upload or ask the operator to raise HALOSYNC_MAX_UPLOAD_MB",
                }
            ],
        }
    ).encode("utf-8")


class BodySizeLimit:
    """ASGI middleware: 413 for bodies larger than ``limit_bytes``."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def _refuse(self, send: Send) -> None:
        body = too_large_body(self.limit_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit_bytes:
                    await self._refuse(send)
                    return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's own answer to the cut-off body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not started:
            await self._refuse(send)


def install_body_limit(app: FastAPI, settings: Settings) -> None:
    """Make ``app`` refuse bodies over ``settings.max_upload_mb``."""
    app.add_middleware(BodySizeLimit, limit_bytes=settings.max_upload_mb * _MB)
