"""How long and how often a failed exchange with Halo is tried again."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying 5xx answers, timeouts and dropped connections (via stamina).

    ``timeout`` caps the total seconds spent on one request's retries; ``rate_limit_waits``
    caps how many 429 answers one request waits out (each wait lasts a rate window).
    """

    attempts: int = 5
    timeout: float = 90.0
    wait_initial: float = 0.5
    wait_max: float = 15.0
    wait_jitter: float = 1.0
    rate_limit_waits: int = 3

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.rate_limit_waits < 0:
            raise ValueError(f"rate_limit_waits must be >= 0, got {self.rate_limit_waits}")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), if any."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)
