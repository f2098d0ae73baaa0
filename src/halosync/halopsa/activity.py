"""What a HaloPSA client reports while it works: pages read and waits for the rate limit.

The client knows when it reads a page and when its pacer holds a request back for Halo's
rate limit; whoever shows progress (a terminal bar, a run's recorded progress) learns it
through a :class:`HaloActivity` handed to :meth:`HaloApiClient.watch
<halosync.halopsa.client.HaloApiClient.watch>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

WaitHook = Callable[[float], None]
"""Told, before a pacer sleeps, until when (epoch seconds) it holds the request back."""


class HaloActivity(Protocol):
    """Receives the client's progress events; each call is quick and never raises."""

    def page_read(self, entity: str, records: int) -> None:
        """One page of ``entity``'s list came in with ``records`` records not seen before."""
        ...

    def waiting(self, until: float | None) -> None:
        """Requests wait for Halo's rate limit until ``until`` (epoch seconds); None: no more."""
        ...


class NoActivity:
    """Reports to no one (a client nobody watches)."""

    def page_read(self, entity: str, records: int) -> None:
        """Ignored."""

    def waiting(self, until: float | None) -> None:
        """Ignored."""
