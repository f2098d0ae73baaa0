"""Bulk writes of a workspace's accounts and services, a chunk of rows per statement.
What changed, and so what is written, is decided by :mod:`halosync.sources.apply` (which
validates a whole batch first); subscriptions are written set-based through
:class:`halosync.store.staging.SubscriptionStaging`. This is only their SQL."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Row, insert, select, text, update
from sqlalchemy.orm import Session

from halosync.store import database
from halosync.store.models import Account, Service

_CHUNK = 5000
# First half of the two-int advisory lock key: "halosync usage import".
_LOCK_NAMESPACE = zlib.crc32(b"halosync usage import") - 2**31


def batched(items: Iterable[dict[str, Any]], size: int) -> Iterator[tuple[dict[str, Any], ...]]:
    """``items`` in tuples of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


class UsageWriter:
    """One workspace's accounts and services, read and written in bulk."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def take_turn(self) -> None:
        """Wait until no other transaction writes this workspace's usage, and keep the
        others waiting until this one ends: two imports at once would each insert the
        accounts the other is inserting (on PostgreSQL a deadlock, or the later one refused
        at its end). SQLite: the store's ``BEGIN IMMEDIATE`` already is such a lock.
        PostgreSQL: a transaction-scoped advisory lock, waited for as long as SQLite's
        busy timeout (the same 'locked, try again' after it), as is every lock after it in
        the transaction."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        wait_ms = int(database.WRITE_LOCK_WAIT_MS)
        self.session.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
        self.session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
            {"namespace": _LOCK_NAMESPACE, "key": self.workspace_id},
        )

    def accounts(self) -> dict[str, Row[int, str, str, str, bool]]:
        """Reference -> (id, ref, name, status, billed) of every account."""
        return {
            row.ref: row
            for row in self.session.execute(
                select(Account.id, Account.ref, Account.name, Account.status, Account.billed).where(
                    Account.workspace_id == self.workspace_id
                )
            )
        }

    def services(self) -> dict[str, Row[int, str, str]]:
        """Reference -> (id, ref, name) of every service."""
        return {
            row.ref: row
            for row in self.session.execute(
                select(Service.id, Service.ref, Service.name).where(
                    Service.workspace_id == self.workspace_id
                )
            )
        }

    def account_ids(self) -> dict[str, int]:
        """Reference -> id of every account."""
        return dict(
            self.session.execute(
                select(Account.ref, Account.id).where(Account.workspace_id == self.workspace_id)
            ).all()
        )

    def service_ids(self) -> dict[str, int]:
        """Reference -> id of every service."""
        return dict(
            self.session.execute(
                select(Service.ref, Service.id).where(Service.workspace_id == self.workspace_id)
            ).all()
        )

    def insert(
        self, model: type[Account] | type[Service], rows: Iterable[dict[str, Any]]
    ) -> dict[str, int]:
        """Insert ``rows`` a chunk at a time (so they never all exist at once); reference
        -> id of each. (Told by the insert itself: looking them up afterwards, by a list
        of references, made PostgreSQL walk every account the import had written so far,
        without statistics for them, for each chunk.)"""
        ids: dict[str, int] = {}
        for chunk in batched(rows, _CHUNK):
            inserted = self.session.execute(
                insert(model).returning(model.ref, model.id), list(chunk)
            )
            ids.update((ref, id_) for ref, id_ in inserted)
        return ids

    def update(self, model: type[Account] | type[Service], rows: list[dict[str, Any]]) -> None:
        """Update rows by primary key (each dict holds ``id``), a chunk at a time."""
        for start in range(0, len(rows), _CHUNK):
            self.session.execute(update(model), rows[start : start + _CHUNK])
