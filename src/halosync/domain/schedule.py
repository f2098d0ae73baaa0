"""Schedule maths: when a workspace's customers pull and usage push are due (all in UTC).

A slot is the exact UTC datetime a run was scheduled for; it becomes the run's unique
schedule key, so a run is enqueued once however many ticks or workers see it. After a
long outage only the latest missed slot is due: the sync catches up once, not N times.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from halosync.domain.ages import humanize_age
from halosync.domain.cooldown import cooldown_message, cooldown_remaining
from halosync.errors import ValidationFailedError

ScheduleKind = Literal["daily", "monthly"]

# ASCII digits only: "１８:００" or "١٨:٠٠" is not a time (see domain/numbers.py).
_DAY = r"(last|[0-9]{1,2})"
_HHMM = r"([0-9]{1,2}):([0-9]{2})"
_TEXT_RE = re.compile(
    rf"^\s*(?:(daily)|monthly\s+(?:on\s+)?(?:day\s+)?{_DAY})\s+(?:at\s+)?"
    rf"{_HHMM}(?:\s*UTC)?\s*$",
    re.IGNORECASE,
)
_DAY_RE = re.compile(rf"\s*{_DAY}\s*", re.IGNORECASE)
_HHMM_RE = re.compile(rf"\s*{_HHMM}\s*")


def parse_time_of_day(text: str) -> tuple[int, int] | None:
    """Hour and minute of ``HH:MM`` (range not checked), or None when not written so."""
    match = _HHMM_RE.fullmatch(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def parse_month_day(text: str) -> int | Literal["last"] | None:
    """The day of ``N`` or ``last`` (range not checked), or None when not written so."""
    match = _DAY_RE.fullmatch(text)
    if not match:
        return None
    return "last" if match.group(1).lower() == "last" else int(match.group(1))


@dataclass(frozen=True, slots=True)
class Schedule:
    """Daily at HH:MM UTC, or monthly on day N (1–28) or the last day, at HH:MM UTC."""

    kind: ScheduleKind
    at: time
    day: int | Literal["last"] | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is not None or self.at.second or self.at.microsecond:
            raise ValidationFailedError(
                f"schedule time {self.at} must be whole minutes, given in UTC without a zone"
            )
        if self.kind == "daily" and self.day is not None:
            raise ValidationFailedError("a daily schedule takes no day of the month")
        if self.kind == "monthly" and not (
            self.day == "last" or (isinstance(self.day, int) and 1 <= self.day <= 28)
        ):
            raise ValidationFailedError(
                f"monthly schedule day {self.day!r} is not allowed",
                fix="Use a day from 1 to 28, or 'last' for the last day of the month.",
            )

    @classmethod
    def daily(cls, hour: int, minute: int = 0) -> Schedule:
        """Every day at ``hour:minute`` UTC."""
        return cls("daily", _time(hour, minute))

    @classmethod
    def monthly(cls, day: int | Literal["last"], hour: int, minute: int = 0) -> Schedule:
        """Every month on ``day`` (1–28 or "last") at ``hour:minute`` UTC."""
        return cls("monthly", _time(hour, minute), day)

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Read ``daily 08:00``, ``monthly 15 18:00`` or ``monthly last 18:00`` (UTC)."""
        match = _TEXT_RE.match(text)
        if not match:
            raise ValidationFailedError(
                f"schedule {text!r} is not understood",
                fix="Write 'daily HH:MM', 'monthly N HH:MM' (N 1-28) or 'monthly last HH:MM'.",
            )
        daily, day, hour, minute = match.groups()
        if daily:
            return cls.daily(int(hour), int(minute))
        return cls.monthly("last" if day.lower() == "last" else int(day), int(hour), int(minute))

    def __str__(self) -> str:
        hhmm = self.at.strftime("%H:%M")
        if self.kind == "daily":
            return f"daily {hhmm}"
        return f"monthly {self.day} {hhmm}"

    def describe(self) -> str:
        """Plain words for the UI: "Daily at 08:00 UTC", "Monthly on the last day at …"."""
        hhmm = self.at.strftime("%H:%M")
        if self.kind == "daily":
            return f"Daily at {hhmm} UTC"
        on = "the last day" if self.day == "last" else f"day {self.day}"
        return f"Monthly on {on} at {hhmm} UTC"


def _time(hour: int, minute: int) -> time:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValidationFailedError(
            f"schedule time {hour:02d}:{minute:02d} is not a time of day",
            fix="Use HH:MM between 00:00 and 23:59 (UTC).",
        )
    return time(hour, minute)


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def _slot_in_month(schedule: Schedule, year: int, month: int) -> datetime:
    last = calendar.monthrange(year, month)[1]
    day = last if schedule.day == "last" else int(schedule.day or 1)
    return datetime(year, month, day, schedule.at.hour, schedule.at.minute, tzinfo=UTC)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def next_run_after(schedule: Schedule, instant: datetime) -> datetime:
    """The first slot strictly after ``instant`` (aware), as an aware UTC datetime."""
    now = _utc(instant, "instant")
    if schedule.kind == "daily":
        candidate = datetime.combine(now.date(), schedule.at, tzinfo=UTC)
        return candidate if candidate > now else candidate + timedelta(days=1)
    for months in range(2):
        year, month = _add_months(now.year, now.month, months)
        candidate = _slot_in_month(schedule, year, month)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: next month's slot is always later")  # pragma: no cover


def latest_slot_at_or_before(schedule: Schedule, instant: datetime) -> datetime:
    """The last slot at or before ``instant`` (aware), as an aware UTC datetime."""
    now = _utc(instant, "instant")
    if schedule.kind == "daily":
        candidate = datetime.combine(now.date(), schedule.at, tzinfo=UTC)
        return candidate if candidate <= now else candidate - timedelta(days=1)
    for months in (0, -1):
        year, month = _add_months(now.year, now.month, months)
        candidate = _slot_in_month(schedule, year, month)
        if candidate <= now:
            return candidate
    raise AssertionError("unreachable: last month's slot is always earlier")  # pragma: no cover


def due_run(
    schedule: Schedule,
    last_run_slot: datetime | None,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> datetime | None:
    """The slot to run now, or None when nothing is due.

    Only the latest slot at or before ``now`` can be due, so a tick after days of downtime
    returns one slot, not one per missed day. It is due when it is later than
    ``last_run_slot`` and not earlier than ``not_before`` (for example when the schedule
    was created or changed, so that saving a schedule does not fire a past slot).
    """
    slot = latest_slot_at_or_before(schedule, now)
    if last_run_slot is not None and slot <= _utc(last_run_slot, "last_run_slot"):
        return None
    if not_before is not None and slot < _utc(not_before, "not_before"):
        return None
    return slot


DEFAULT_CUSTOMERS_SCHEDULE = Schedule.daily(8, 0)
"""Customers pull ("Sync Organizations"): daily at 08:00 UTC."""

DEFAULT_USAGE_SCHEDULE = Schedule.daily(18, 0)
"""Usage push ("Sync Subscriptions"): daily at 18:00 UTC."""


__all__ = [
    "DEFAULT_CUSTOMERS_SCHEDULE",
    "DEFAULT_USAGE_SCHEDULE",
    "Schedule",
    "cooldown_message",
    "cooldown_remaining",
    "due_run",
    "humanize_age",
    "latest_slot_at_or_before",
    "next_run_after",
    "parse_month_day",
    "parse_time_of_day",
]
