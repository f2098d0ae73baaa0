"""The database side of the shared Halo rate budget: the ``halo_rate_slot`` sliding log.

One row per request started, per Halo instance, pruned as rows age out of the window.
Each operation is one short transaction serialised per instance: a transaction-scoped
advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` (the store's default) on SQLite. The
clock is read only once the lock is held, so slot times follow lock order.

:class:`SqlRateSlotLog` is the adapter behind the pacer port
(:class:`halosync.halopsa.pacing.SlotLog`); the pacing rules themselves (how long to
wait, how far a 429 may hold) stay in :mod:`halosync.halopsa.pacing`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from halosync.store.database import Database
from halosync.store.models import HaloRateSlot

# First half of the two-int advisory lock key: "halosync rate budget".
_LOCK_NAMESPACE = 0x48525354


def _lock_key(instance_key: str) -> int:
    return zlib.crc32(instance_key.encode("utf-8")) - 2**31


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SqlRateSlotLog:
    """Every halosync process's request slots, per Halo instance, in the database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _lock(self, session: Session, instance_key: str) -> None:
        # Take the lock before reading the clock. On SQLite opening the connection runs the
        # store's BEGIN IMMEDIATE, which is the lock.
        session.connection()
        if self.database.dialect == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                {"namespace": _LOCK_NAMESPACE, "key": _lock_key(instance_key)},
            )

    def take(
        self, instance_key: str, limit: int, window_seconds: float, now: Callable[[], float]
    ) -> tuple[float | None, float]:
        """Take a slot if the window has room: (when it was taken, 0.0); otherwise
        (None, seconds until the slot that frees up first does).

        Slots that aged out of the window, and any stamped more than a window ahead (left by
        an older version), are dropped first.
        """
        with self.database.session() as session:
            self._lock(session, instance_key)
            moment = now()
            cutoff = _at(moment - window_seconds)
            poison = _at(moment + window_seconds)
            session.execute(
                delete(HaloRateSlot)
                .where(HaloRateSlot.instance_key == instance_key)
                .where((HaloRateSlot.slot_at <= cutoff) | (HaloRateSlot.slot_at > poison))
            )
            count = session.scalar(
                select(func.count())
                .select_from(HaloRateSlot)
                .where(HaloRateSlot.instance_key == instance_key)
            )
            if int(count or 0) < limit:
                session.add(HaloRateSlot(instance_key=instance_key, slot_at=_at(moment)))
                return moment, 0.0
            # The slot that frees up first is the limit-th newest, not always the oldest,
            # because a 429 back-off stamps a whole window of slots at one moment.
            frees_at = session.scalar(
                select(HaloRateSlot.slot_at)
                .where(HaloRateSlot.instance_key == instance_key)
                .order_by(HaloRateSlot.slot_at.desc())
                .offset(limit - 1)
                .limit(1)
            )
            assert frees_at is not None
            return None, frees_at.timestamp() + window_seconds - moment

    def fill(
        self,
        instance_key: str,
        limit: int,
        window_seconds: float,
        hold_end: Callable[[float], float],
        now: Callable[[], float],
    ) -> None:
        """Fill the window so that no process starts a request before ``hold_end(now)``."""
        with self.database.session() as session:
            self._lock(session, instance_key)
            moment = now()
            end = hold_end(moment)
            if end <= moment:
                return
            # Slots stamped (end - window) <= now fill the window until ``end``.
            stamp = _at(end - window_seconds)
            session.execute(
                insert(HaloRateSlot),
                [{"instance_key": instance_key, "slot_at": stamp}] * limit,
            )

    def used(self, instance_key: str, window_seconds: float, now: Callable[[], float]) -> int:
        """Requests started in the current window, by every process."""
        with self.database.session() as session:
            self._lock(session, instance_key)
            cutoff = _at(now() - window_seconds)
            count = session.scalar(
                select(func.count())
                .select_from(HaloRateSlot)
                .where(HaloRateSlot.instance_key == instance_key)
                .where(HaloRateSlot.slot_at > cutoff)
            )
            return int(count or 0)
