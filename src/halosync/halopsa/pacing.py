"""Pacing requests to stay inside Halo's rate limit (a rolling window per instance).

Halo allows about 300 requests per rolling 5 minutes per instance and answers 429 past
that; a 5-second pause does not help, only waiting for the window does. Every request
first asks a :class:`RequestPacer` for a slot. :class:`SlidingWindowPacer` serves one
process; :class:`SharedSlidingLogPacer` shares one budget across processes through a
:class:`SlotLog` (the database's, :class:`halosync.store.rate_slots.SqlRateSlotLog`).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from halosync.halopsa.activity import WaitHook
from halosync.halopsa.clock import Clock, SystemClock

if TYPE_CHECKING:
    from halosync.settings import Settings

DEFAULT_RATE_LIMIT = 270
DEFAULT_RATE_WINDOW_SECONDS = 300.0
_MIN_WAIT_SECONDS = 0.05


class RequestPacer(Protocol):
    """Hands out request slots so that at most ``limit`` requests start per rolling window."""

    async def acquire(self, waiting: WaitHook | None = None) -> float:
        """Wait until a request may start, count it, and return when its slot was taken.

        Before each sleep, ``waiting`` (when given) is told until when it sleeps.
        """
        ...

    async def block_until(self, until: float) -> None:
        """Start no request before ``until`` (epoch seconds, at most one window ahead)."""
        ...


def hold_end(now: float, until: float, window_seconds: float) -> float:
    """When a 429 hold asked to end at ``until`` ends: never more than one window from now.

    Halo's limit is one rolling window, so no honest wait is longer; whatever a caller (or
    a server, through it) asks, a pacer never books a slot beyond that.
    """
    latest = now + window_seconds
    if math.isnan(until) or until > latest:
        return latest
    return until


def _check_budget(limit: int, window_seconds: float) -> None:
    if limit < 1:
        raise ValueError(f"rate limit must be at least 1 request, got {limit}")
    if window_seconds <= 0:
        raise ValueError(f"rate window must be positive, got {window_seconds}")


class SlidingWindowPacer:
    """A sliding log of request start times, in this process only."""

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS,
        *,
        clock: Clock | None = None,
    ) -> None:
        _check_budget(limit, window_seconds)
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock or SystemClock()
        self._starts: deque[float] = deque()
        self._blocked_until = 0.0
        # Waiters queue on the lock, so slots go out in arrival order.
        self._lock = asyncio.Lock()

    async def acquire(self, waiting: WaitHook | None = None) -> float:
        """Wait for a free slot in the window (and past any 429 block), then take it."""
        async with self._lock:
            while True:
                now = self._clock.now()
                if now < self._blocked_until:
                    if waiting is not None:
                        waiting(self._blocked_until)
                    await self._clock.sleep(self._blocked_until - now)
                    continue
                while self._starts and self._starts[0] <= now - self.window_seconds:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return now
                frees_at = self._starts[0] + self.window_seconds
                if waiting is not None:
                    waiting(frees_at)
                await self._clock.sleep(frees_at - now)

    async def block_until(self, until: float) -> None:
        """Hold every later request until ``until`` (at most one window from now)."""
        end = hold_end(self._clock.now(), until, self.window_seconds)
        self._blocked_until = max(self._blocked_until, end)

    def used(self) -> int:
        """Requests started in the current window (for diagnostics and tests)."""
        now = self._clock.now()
        return sum(1 for start in self._starts if start > now - self.window_seconds)


class SlotLog(Protocol):
    """The port a shared pacer keeps its sliding log behind: one slot per request started,
    per Halo instance, each operation atomic across processes, reading ``now`` only once it
    holds the instance's lock."""

    def take(
        self, instance_key: str, limit: int, window_seconds: float, now: Callable[[], float]
    ) -> tuple[float | None, float]:
        """(when a slot was taken, 0.0), or (None, seconds until one frees up)."""
        ...

    def fill(
        self,
        instance_key: str,
        limit: int,
        window_seconds: float,
        hold_end: Callable[[float], float],
        now: Callable[[], float],
    ) -> None:
        """Fill the window so that no request starts before ``hold_end(now)``."""
        ...

    def used(self, instance_key: str, window_seconds: float, now: Callable[[], float]) -> int:
        """Requests started in the current window."""
        ...


class SharedSlidingLogPacer:
    """A :class:`RequestPacer` whose budget is shared by every process using one
    :class:`SlotLog`."""

    def __init__(
        self,
        log: SlotLog,
        instance_key: str,
        limit: int = DEFAULT_RATE_LIMIT,
        window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS,
        *,
        clock: Clock | None = None,
    ) -> None:
        _check_budget(limit, window_seconds)
        self.log = log
        self.instance_key = instance_key
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock or SystemClock()

    @classmethod
    def from_settings(
        cls, settings: Settings, log: SlotLog, instance_key: str, *, clock: Clock | None = None
    ) -> SharedSlidingLogPacer:
        """The shared pacer with the operator's budget (``HALOSYNC_HALO_RATE_LIMIT``)."""
        return cls(
            log,
            instance_key,
            settings.halo_rate_limit,
            settings.halo_rate_window_seconds,
            clock=clock,
        )

    async def acquire(self, waiting: WaitHook | None = None) -> float:
        """Wait until the instance's window has room, take a slot, return when it was taken."""
        while True:
            taken, wait = await asyncio.to_thread(
                self.log.take, self.instance_key, self.limit, self.window_seconds, self._clock.now
            )
            if taken is not None:
                return taken
            wait = max(_MIN_WAIT_SECONDS, wait)
            if waiting is not None:
                waiting(self._clock.now() + wait)
            await self._clock.sleep(wait)

    async def block_until(self, until: float) -> None:
        """Fill the window so that no process starts a request before ``until`` (at most one
        window from now)."""
        end_of = functools.partial(_hold_end_at, until=until, window_seconds=self.window_seconds)
        await asyncio.to_thread(
            self.log.fill,
            self.instance_key,
            self.limit,
            self.window_seconds,
            end_of,
            self._clock.now,
        )

    def used(self) -> int:
        """Requests started in the current window, by every process."""
        return self.log.used(self.instance_key, self.window_seconds, self._clock.now)


def _hold_end_at(now: float, *, until: float, window_seconds: float) -> float:
    return hold_end(now, until, window_seconds)
