"""Keeping the web's event loop free while a request talks to HaloPSA.

The services that talk to HaloPSA (a dry run, the reconciliation, a connection test, an
approval's write) are coroutines, but between their awaits they read and write the
database with blocking calls. Awaited by a handler, that work would run on the web's one
event loop, and every other request of the process would wait for it. Awaited through
:func:`off_the_loop`, the service runs on an event loop of its own in a worker thread
(as the job workers run syncs), so only that thread waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def off_the_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``await work()``, run on an event loop of its own in the thread pool."""
    return await run_in_threadpool(_run, work)


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work())
