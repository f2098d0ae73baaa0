"""Relative ages for the tiles: "just now", "5m ago", "9h ago", "3 days ago"."""

from __future__ import annotations

from datetime import datetime, timedelta


def humanize_age(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was, rounded down; a ``then`` in the future is "just now"."""
    age = now - then
    if age < timedelta(minutes=1):
        return "just now"
    if age < timedelta(hours=1):
        return f"{age // timedelta(minutes=1)}m ago"
    if age < timedelta(days=1):
        return f"{age // timedelta(hours=1)}h ago"
    days = age // timedelta(days=1)
    return "1 day ago" if days == 1 else f"{days} days ago"
