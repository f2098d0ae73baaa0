"""A rate budget per Halo instance shared by every halosync process, kept in the database.

A sliding log in ``halo_rate_slot``: one row per request started, pruned as rows age out
of the window. Taking a slot is one short transaction serialised per instance: a
transaction-scoped advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` (the store's default)
on SQLite. A 429 is shared the same way: the window is filled up so that nobody starts a
request before the back-off ends.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from halosync.halopsa.clock import Clock, SystemClock
from halosync.halopsa.pacing import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_SECONDS,
    _check_budget,
    hold_end,
)
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.models import HaloRateSlot

# First half of the two-int advisory lock key: "halosync rate budget".
_LOCK_NAMESPACE = 0x48525354
_MIN_WAIT_SECONDS = 0.05


def _lock_key(instance_key: str) -> int:
    return zlib.crc32(instance_key.encode("utf-8")) - 2**31


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SqlSlidingLogPacer:
    """A :class:`~halosync.halopsa.pacing.RequestPacer` whose budget lives in the database."""

    def __init__(
        self,
        database: Database,
        instance_key: str,
        limit: int = DEFAULT_RATE_LIMIT,
        window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS,
        *,
        clock: Clock | None = None,
    ) -> None:
        _check_budget(limit, window_seconds)
        self.database = database
        self.instance_key = instance_key
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock or SystemClock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        database: Database,
        instance_key: str,
        *,
        clock: Clock | None = None,
    ) -> SqlSlidingLogPacer:
        """The shared pacer with the operator's budget (``HALOSYNC_HALO_RATE_LIMIT``)."""
        return cls(
            database,
            instance_key,
            settings.halo_rate_limit,
            settings.halo_rate_window_seconds,
            clock=clock,
        )

    async def acquire(self) -> float:
        """Wait until the instance's window has room, take a slot, return when it was taken."""
        while True:
            taken, wait = await asyncio.to_thread(self._try_take)
            if taken is not None:
                return taken
            await self._clock.sleep(wait)

    async def block_until(self, until: float) -> None:
        """Fill the window so that no process starts a request before ``until``."""
        await asyncio.to_thread(self._fill_until, until)

    def used(self) -> int:
        """Requests started in the current window, by every process."""
        with self.database.session() as session:
            self._lock(session)
            cutoff = _at(self._clock.now() - self.window_seconds)
            count = session.scalar(
                select(func.count())
                .select_from(HaloRateSlot)
                .where(HaloRateSlot.instance_key == self.instance_key)
                .where(HaloRateSlot.slot_at > cutoff)
            )
            return int(count or 0)

    def _lock(self, session: Session) -> None:
        # Take the lock before reading the clock, so slot times follow lock order. On SQLite
        # opening the connection runs the store's BEGIN IMMEDIATE, which is the lock.
        session.connection()
        if self.database.dialect == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                {"namespace": _LOCK_NAMESPACE, "key": _lock_key(self.instance_key)},
            )

    def _try_take(self) -> tuple[float | None, float]:
        """(when the slot was taken, 0) or (None, how long to wait before trying again)."""
        with self.database.session() as session:
            self._lock(session)
            now = self._clock.now()
            cutoff = _at(now - self.window_seconds)
            poison = _at(now + self.window_seconds)
            session.execute(
                delete(HaloRateSlot)
                .where(HaloRateSlot.instance_key == self.instance_key)
                .where((HaloRateSlot.slot_at <= cutoff) | (HaloRateSlot.slot_at > poison))
            )
            count = session.scalar(
                select(func.count())
                .select_from(HaloRateSlot)
                .where(HaloRateSlot.instance_key == self.instance_key)
            )
            if int(count or 0) < self.limit:
                session.add(HaloRateSlot(instance_key=self.instance_key, slot_at=_at(now)))
                return now, 0.0
            # The slot that frees up first is the limit-th newest, not always the oldest,
            # because a 429 back-off stamps a whole window of slots at one moment.
            frees_at = session.scalar(
                select(HaloRateSlot.slot_at)
                .where(HaloRateSlot.instance_key == self.instance_key)
                .order_by(HaloRateSlot.slot_at.desc())
                .offset(self.limit - 1)
                .limit(1)
            )
            assert frees_at is not None
            return None, max(_MIN_WAIT_SECONDS, frees_at.timestamp() + self.window_seconds - now)

    def _fill_until(self, until: float) -> None:
        with self.database.session() as session:
            self._lock(session)
            now = self._clock.now()
            end = hold_end(now, until, self.window_seconds)
            if end <= now:
                return
            # Slots stamped (end - window) <= now fill the window until ``end``.
            stamp = _at(end - self.window_seconds)
            session.execute(
                insert(HaloRateSlot),
                [{"instance_key": self.instance_key, "slot_at": stamp}] * self.limit,
            )
