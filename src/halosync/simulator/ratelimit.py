"""Halo's rolling-window request limit (300 requests per rolling 5 minutes by default)."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from halosync.simulator.clock import SimulatedClock
from halosync.simulator.config import (
    RETRY_AFTER_AUTO,
    rate_limit_problem,
    rate_window_problem,
    retry_after_problem,
)

_UNCHANGED: Any = object()


class RollingWindowLimiter:
    """Admits at most ``limit`` requests in any ``window_seconds`` of simulated time.

    Refused requests are not counted, so a client that backs off for the window gets in
    again; one that keeps hammering stays out only until old requests age out. Limit,
    window and the Retry-After header can be changed while serving (the control API).
    """

    def __init__(
        self,
        clock: SimulatedClock,
        limit: int,
        window_seconds: float,
        retry_after: str | None = None,
    ) -> None:
        self._clock = clock
        self.limit = limit
        self.window_seconds = float(window_seconds)
        self.retry_after_setting = retry_after
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

    def headers(self) -> dict[str, str]:
        """The headers of a 429: Retry-After as configured (none by default)."""
        setting = self.retry_after_setting
        if setting is None:
            return {}
        if setting == RETRY_AFTER_AUTO:
            return {"retry-after": str(max(1, self.retry_after()))}
        return {"retry-after": setting}

    @staticmethod
    def problems(
        *,
        limit: int = _UNCHANGED,
        window_seconds: float = _UNCHANGED,
        retry_after: str | None = _UNCHANGED,
    ) -> list[str]:
        """What is wrong with the changes :meth:`configure` would make (empty: nothing)."""
        problems = [
            rate_limit_problem(limit) if limit is not _UNCHANGED else None,
            rate_window_problem(window_seconds) if window_seconds is not _UNCHANGED else None,
            retry_after_problem(retry_after) if retry_after is not _UNCHANGED else None,
        ]
        return [problem for problem in problems if problem]

    def configure(
        self,
        *,
        limit: int = _UNCHANGED,
        window_seconds: float = _UNCHANGED,
        retry_after: str | None = _UNCHANGED,
    ) -> None:
        """Change any of limit, window and Retry-After; all or nothing (ValueError)."""
        problems = self.problems(
            limit=limit, window_seconds=window_seconds, retry_after=retry_after
        )
        if problems:
            raise ValueError("; ".join(problems))
        with self._lock:
            if limit is not _UNCHANGED:
                self.limit = limit
            if window_seconds is not _UNCHANGED:
                self.window_seconds = float(window_seconds)
            if retry_after is not _UNCHANGED:
                self.retry_after_setting = retry_after

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
