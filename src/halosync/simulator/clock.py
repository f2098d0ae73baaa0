"""The simulator's notion of time, which tests move forward instead of sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimulatedClock:
    """Wall-clock time plus an offset that :meth:`advance` grows.

    Started with ``frozen_at``, the clock stands still except when advanced, so a test
    sees the same timestamps on every run.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen = frozen_at.timestamp() if frozen_at is not None else None

    def now(self) -> float:
        """Seconds since the epoch, simulated."""
        with self._lock:
            base = self._frozen if self._frozen is not None else time.time()
            return base + self._offset

    def utcnow(self) -> datetime:
        """The simulated time as a naive UTC datetime (Halo returns no offset)."""
        return datetime.fromtimestamp(self.now(), UTC).replace(tzinfo=None)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (token expiry, the rate-limit window)."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        with self._lock:
            self._offset += seconds

    def isoformat(self) -> str:
        """The simulated time in Halo's response format, e.g. ``2025-03-20T18:50:25.057``."""
        return halo_datetime(self.utcnow())


def halo_datetime(moment: datetime) -> str:
    """Format a datetime as Halo does: ISO 8601 in UTC without an offset, milliseconds at
    most and no trailing zeros (``2025-03-20T18:50:25.057``, ``2023-07-22T13:54:46.32``)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    moment = moment - timedelta(microseconds=moment.microsecond % 1000)
    text = moment.isoformat(timespec="milliseconds")
    return text.rstrip("0").rstrip(".")
