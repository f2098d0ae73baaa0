"""Halo's rolling-window request limit (300 requests per rolling 5 minutes by default)."""

from __future__ import annotations

import math
import threading
from collections import deque

from halosync.simulator.clock import SimulatedClock


class RollingWindowLimiter:
    """Admits at most ``limit`` requests in any ``window_seconds`` of simulated time.

    Refused requests are not counted, so a client that backs off for the window gets in
    again; one that keeps hammering stays out only until old requests age out.
    """

    def __init__(self, clock: SimulatedClock, limit: int, window_seconds: float) -> None:
        self._clock = clock
        self.limit = limit
        self.window_seconds = window_seconds
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._admitted and self._admitted[0] <= horizon:
            self._admitted.popleft()

    def try_admit(self) -> bool:
        """Count one request if the window has room; say whether it was admitted."""
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            if len(self._admitted) >= self.limit:
                return False
            self._admitted.append(now)
            return True

    def retry_after(self) -> int:
        """Whole seconds until the oldest counted request leaves the window."""
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            if len(self._admitted) < self.limit:
                return 0
            return max(1, math.ceil(self._admitted[0] + self.window_seconds - now))

    def used(self) -> int:
        """How many requests the current window holds."""
        with self._lock:
            self._expire(self._clock.now())
            return len(self._admitted)

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._admitted.clear()

    def message(self) -> str:
        """Halo's 429 body, e.g. "Rate Limit Reached - 300 Requests per rolling 5 minute window"."""
        seconds = self.window_seconds
        window = f"{int(seconds // 60)} minute" if seconds % 60 == 0 else f"{seconds:g} second"
        return f"Rate Limit Reached - {self.limit} Requests per rolling {window} window"
