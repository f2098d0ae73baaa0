"""Wall-clock time and sleeping, injectable so tests can move time instead of waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch (shared across processes) and an async sleep."""

    def now(self) -> float:
        """The current time in seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (no-op for zero or negative)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` that tolerates negative values."""
        await asyncio.sleep(max(0.0, seconds))
