"""The wait after a manual full usage sync before the next one may be triggered."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

DEFAULT_COOLDOWN_MINUTES = 60


def cooldown_remaining(
    last_manual_full_sync_finished_at: datetime | None, cooldown_minutes: int, now: datetime
) -> timedelta:
    """How long a new manual full sync is still refused; zero when it is allowed."""
    if last_manual_full_sync_finished_at is None or cooldown_minutes <= 0:
        return timedelta(0)
    ends = last_manual_full_sync_finished_at + timedelta(minutes=cooldown_minutes)
    return max(ends - now, timedelta(0))


def cooldown_message(remaining: timedelta) -> str | None:
    """ "You can trigger the next sync in N minutes" (N rounded up, never 0), or None."""
    if remaining <= timedelta(0):
        return None
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"You can trigger the next sync in {minutes} {unit}"
