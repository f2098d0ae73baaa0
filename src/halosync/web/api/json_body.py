"""Every JSON request body is read by one rule: the one ``POST /usage`` and usage files use.

FastAPI would read a body with ``json.loads``: no depth limit (40 levels accepted where a
usage document is refused past 32; 100,000 levels ran the decoder out of recursion and
answered a bare 400), and a syntax error located as ``$[26]``. Here the body is read first
by :func:`halosync.sources.readers.read_json_body`, so every route answers as ``/usage``
does: 422 naming ``line 1, column 27`` and what is wrong, or the route goes on with the
value already read.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import params
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from halosync.sources.readers import read_json_body

# A body this size is read in the thread pool, so the event loop does not wait for it.
_INLINE_BYTES = 64 * 1024


def _is_json(content_type: str | None) -> bool:
    """What FastAPI reads as JSON: ``application/json`` or ``application/*+json``."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JsonBodyRoute(APIRoute):
    """A route whose JSON body (if it takes one) is read by :func:`read_json_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field
        if field is None or isinstance(field.field_info, params.Form):
            return handler

        async def read_json_first(request: Request) -> Response:
            body = await request.body()
            if body and _is_json(request.headers.get("content-type")):
                if len(body) > _INLINE_BYTES:
                    value = await run_in_threadpool(read_json_body, body)
                else:
                    value = read_json_body(body)
                # Starlette's Request.json() answers what it holds here; FastAPI asks it.
                request._json = value
            return await handler(request)

        return read_json_first
