"""How long and how often a failed exchange with Halo is tried again.

:func:`rate_limit_wait` is the one place that turns a 429's ``Retry-After`` into a wait
(the shape of dlt's REST client: honour seconds or an HTTP date, clamp to a maximum, fall
back to the default back-off). Nothing Halo sends can make it longer than one rate window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

MIN_RATE_LIMIT_WAIT_SECONDS = 1.0
"""A 429 is never followed at once, even when Retry-After says 0 or a moment past."""
_LONGEST_READ_SECONDS = 1e12
"""Retry-After values beyond this (about 30,000 years) are read as this, keeping sums finite."""
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying 5xx answers, timeouts and dropped connections (via stamina).

    ``timeout`` caps the total seconds spent on one request's retries. ``rate_limit_waits``
    caps how many 429 answers one request waits out, each for at most one rate window; a
    Retry-After asking for more than what is left of those windows ends the run instead.
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
    """Seconds Halo asked to wait: delta seconds, or an HTTP date (a past date is 0).

    None when there is no header or it is neither (negative, ``1e9``, ``inf``, garbage):
    such a value is ignored rather than trusted. The result is finite and never negative.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return min(float(text), _LONGEST_READ_SECONDS)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with no claim about the sender's zone
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), _LONGEST_READ_SECONDS)


@dataclass(frozen=True)
class RateLimitWait:
    """How long to hold every request after a 429."""

    asked: float | None
    """What Halo's Retry-After asked for (seconds), None when it sent nothing readable."""
    seconds: float
    """What halosync waits: ``asked`` clamped to one window, or a whole window."""


def rate_limit_wait(retry_after: str | None, now: float, *, window: float) -> RateLimitWait:
    """The wait after a 429: Retry-After (seconds or date) clamped to ``window``.

    Without a readable Retry-After the wait is a whole window: Halo's limit is a rolling
    window, which only frees up as old requests age out, so a short pause would not help.
    """
    asked = parse_retry_after(retry_after, now)
    if asked is None:
        return RateLimitWait(None, window)
    return RateLimitWait(asked, min(max(asked, MIN_RATE_LIMIT_WAIT_SECONDS), window))
