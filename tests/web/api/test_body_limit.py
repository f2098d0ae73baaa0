"""The body size limit: whatever the size and chunking, a body over the limit is a 413 in
the API's error shape and one within it reaches the app whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from halosync.web.api.limits import BodySizeLimit

LIMIT = 200


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"received": len(body)})


APP = BodySizeLimit(Starlette(routes=[Route("/echo", _echo, methods=["POST"])]), LIMIT)


async def _send(size: int, chunk: int, declared: bool) -> httpx2.Response:
    payload = b"x" * size

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, size, chunk):
            yield payload[start : start + chunk]

    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=APP), base_url="http://limit.test"
    ) as client:
        if declared:
            return await client.post("/echo", content=payload)
        return await client.post("/echo", content=stream())


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=3 * LIMIT),
    chunk=st.integers(min_value=1, max_value=LIMIT),
    declared=st.booleans(),
)
def test_over_the_limit_is_413_within_it_arrives_whole(
    size: int, chunk: int, declared: bool
) -> None:
    response = asyncio.run(_send(size, chunk, declared))
    if size > LIMIT:
        assert response.status_code == 413
        body = response.json()
        assert "larger than" in body["detail"]
        assert body["errors"][0]["location"] == "body"
    else:
        assert response.status_code == 200
        assert response.json() == {"received": size}
