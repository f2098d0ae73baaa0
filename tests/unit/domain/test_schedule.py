from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.schedule import (
    DEFAULT_CUSTOMERS_SCHEDULE,
    DEFAULT_USAGE_SCHEDULE,
    Schedule,
    cooldown_message,
    cooldown_remaining,
    due_run,
    humanize_age,
    latest_slot_at_or_before,
    next_run_after,
)
from halosync.errors import HalosyncError, ValidationFailedError

instants = st.datetimes(
    min_value=datetime(1999, 1, 1), max_value=datetime(2101, 1, 1), timezones=st.just(UTC)
)
schedules = st.one_of(
    st.builds(Schedule.daily, st.integers(0, 23), st.integers(0, 59)),
    st.builds(
        Schedule.monthly,
        st.one_of(st.integers(1, 28), st.just("last")),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_defaults() -> None:
    assert str(DEFAULT_CUSTOMERS_SCHEDULE) == "daily 08:00"
    assert str(DEFAULT_USAGE_SCHEDULE) == "daily 18:00"
    assert next_run_after(DEFAULT_USAGE_SCHEDULE, utc(2025, 3, 1, 18, 0)) == utc(2025, 3, 2, 18)


@pytest.mark.parametrize(
    ("schedule", "instant", "expected"),
    [
        (Schedule.monthly("last", 18), utc(2024, 2, 1), utc(2024, 2, 29, 18)),
        (Schedule.monthly("last", 18), utc(2023, 2, 28, 18), utc(2023, 3, 31, 18)),
        (Schedule.monthly("last", 18), utc(2100, 2, 1), utc(2100, 2, 28, 18)),
        (Schedule.monthly(28, 8, 30), utc(2024, 12, 28, 8, 30), utc(2025, 1, 28, 8, 30)),
        (Schedule.monthly(1, 0), utc(2024, 12, 31, 23, 59), utc(2025, 1, 1)),
        (Schedule.daily(8), utc(2024, 2, 28, 9), utc(2024, 2, 29, 8)),
    ],
)
def test_month_ends_and_leap_years(
    schedule: Schedule, instant: datetime, expected: datetime
) -> None:
    assert next_run_after(schedule, instant) == expected


@settings(max_examples=300)
@given(schedules, instants)
def test_next_run_is_the_first_slot_after_the_instant(schedule: Schedule, now: datetime) -> None:
    nxt = next_run_after(schedule, now)
    assert nxt > now
    assert nxt.tzinfo is UTC
    assert (nxt.hour, nxt.minute) == (schedule.at.hour, schedule.at.minute)
    if schedule.kind == "daily":
        assert nxt - now <= timedelta(days=1)
    elif schedule.day == "last":
        assert (nxt + timedelta(days=1)).day == 1
    else:
        assert nxt.day == schedule.day
    # Nothing in between: the slot before it is at or before now.
    assert latest_slot_at_or_before(schedule, nxt - timedelta(minutes=1)) <= now


@settings(max_examples=300)
@given(schedules, instants, st.integers(0, 400 * 24 * 60))
def test_a_missed_tick_catches_up_once(schedule: Schedule, last: datetime, down: int) -> None:
    last_slot = latest_slot_at_or_before(schedule, last)
    now = last + timedelta(minutes=down)
    slot = due_run(schedule, last_slot, now)
    if next_run_after(schedule, last_slot) <= now:
        assert slot == latest_slot_at_or_before(schedule, now)
        assert slot is not None
        assert last_slot < slot <= now
        # Once run, further ticks at the same time or within the same slot find nothing.
        assert due_run(schedule, slot, now) is None
        # A tick a minute later is still in the same slot, unless the next slot starts by then.
        later = now + timedelta(seconds=59)
        if next_run_after(schedule, slot) > later:
            assert due_run(schedule, slot, later) is None
    else:
        assert slot is None


def test_never_run_schedule_respects_not_before() -> None:
    schedule = Schedule.daily(8)
    now = utc(2025, 5, 5, 10)
    assert due_run(schedule, None, now) == utc(2025, 5, 5, 8)
    assert due_run(schedule, None, now, not_before=utc(2025, 5, 5, 9)) is None
    assert due_run(schedule, None, utc(2025, 5, 6, 8), not_before=utc(2025, 5, 5, 9)) == utc(
        2025, 5, 6, 8
    )


def test_other_time_zones_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    got = next_run_after(Schedule.daily(8), datetime(2025, 1, 1, 9, 30, tzinfo=plus_two))
    assert got == utc(2025, 1, 1, 8)  # 09:30+02:00 is 07:30 UTC


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_after(Schedule.daily(8), datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("daily 08:00", Schedule.daily(8)),
        ("Monthly 15 18:30", Schedule.monthly(15, 18, 30)),
        ("monthly on day last at 06:05 UTC", Schedule.monthly("last", 6, 5)),
    ],
)
def test_parse(text: str, expected: Schedule) -> None:
    assert Schedule.parse(text) == expected
    assert Schedule.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["monthly 29 08:00", "daily 24:00", "weekly 08:00", ""])
def test_bad_schedules_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValidationFailedError) as info:
        Schedule.parse(text)
    assert info.value.message


def test_describe() -> None:
    assert Schedule.monthly("last", 18).describe() == "Monthly on the last day at 18:00 UTC"


@pytest.mark.parametrize(
    ("seconds_left", "message"),
    [
        (3600, "You can trigger the next sync in 60 minutes"),
        (3599, "You can trigger the next sync in 60 minutes"),
        (61, "You can trigger the next sync in 2 minutes"),
        (1, "You can trigger the next sync in 1 minute"),
        (0, None),
    ],
)
def test_cooldown_messages(seconds_left: int, message: str | None) -> None:
    now = utc(2025, 1, 1, 12)
    finished = now - timedelta(seconds=3600 - seconds_left)
    assert cooldown_message(cooldown_remaining(finished, 60, now)) == message


@settings(max_examples=200)
@given(st.integers(0, 10_000), st.integers(0, 240))
def test_cooldown_never_says_zero_while_refusing(elapsed: int, minutes: int) -> None:
    now = utc(2025, 1, 1)
    remaining = cooldown_remaining(now - timedelta(seconds=elapsed), minutes, now)
    message = cooldown_message(remaining)
    assert (message is None) == (elapsed >= minutes * 60)
    assert message is None or " in 0 " not in message
    assert cooldown_remaining(None, minutes, now) == timedelta(0)


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(seconds=-30), "just now"),
        (timedelta(minutes=5), "5m ago"),
        (timedelta(hours=9, minutes=59), "9h ago"),
        (timedelta(days=1, hours=3), "1 day ago"),
        (timedelta(days=12), "12 days ago"),
    ],
)
def test_humanize_age(ago: timedelta, text: str) -> None:
    now = utc(2025, 6, 1)
    assert humanize_age(now - ago, now) == text


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda: Schedule.monthly(29, 8), "monthly schedule day 29 is not allowed. Use a day"),
        (lambda: Schedule.daily(24, 0), "schedule time 24:00 is not a time of day. Use HH:MM"),
        (lambda: Schedule.daily(23, 60), "schedule time 23:60 is not a time of day. Use HH:MM"),
        (lambda: Schedule.parse("weekly"), "schedule 'weekly' is not understood. Write"),
    ],
)
def test_a_refused_schedule_reads_as_two_sentences(make: Any, said: str) -> None:
    """The message and its fix were run together ("... is not allowed Use a day ...")."""
    with pytest.raises(HalosyncError) as refused:
        make()
    assert str(refused.value).startswith(said)
    assert refused.value.text_for("api").startswith(said)
