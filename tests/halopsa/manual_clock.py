"""A clock tests move by hand; sleeping advances it (and the simulator's, when shared)."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Advancing(Protocol):
    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class _Own:
    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class ManualClock:
    """Implements ``halosync.halopsa.clock.Clock`` without real waiting."""

    def __init__(self, base: Advancing | None = None, start: float = 1_750_000_000.0) -> None:
        self.base: Advancing = base or _Own(start)
        self.slept = 0.0

    def now(self) -> float:
        return self.base.now()

    async def sleep(self, seconds: float) -> None:
        # Concurrent sleepers overlap as in real time: wake at (call time + seconds), and
        # the clock only moves as far as the latest wake-up so far.
        if seconds > 0:
            self.slept += seconds
            wake = self.base.now() + seconds
            await asyncio.sleep(0)
            ahead = wake - self.base.now()
            if ahead > 0:
                self.base.advance(ahead)
        await asyncio.sleep(0)
