"""Bulk writes of a workspace's accounts and services, a chunk of rows per statement.
What changed, and so what is written, is decided by :mod:`halosync.sources.apply` (which
validates a whole batch first); subscriptions are written set-based through
:class:`halosync.store.staging.SubscriptionStaging`. This is only their SQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.orm import Session

from halosync.store.models import Account, Service

_CHUNK = 5000


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

    def ids_of(self, model: type[Account] | type[Service], refs: list[str]) -> dict[str, int]:
        """Reference -> id of the accounts (or services) of ``refs``, a chunk at a time."""
        ids: dict[str, int] = {}
        for start in range(0, len(refs), _CHUNK):
            ids.update(
                self.session.execute(
                    select(model.ref, model.id).where(
                        model.workspace_id == self.workspace_id,
                        model.ref.in_(refs[start : start + _CHUNK]),
                    )
                ).all()
            )
        return ids

    def insert(self, model: type[Account] | type[Service], rows: Iterable[dict[str, Any]]) -> int:
        """Insert ``rows`` a chunk at a time (so they never all exist at once); how many."""
        count = 0
        for chunk in batched(rows, _CHUNK):
            self.session.execute(insert(model), list(chunk))
            count += len(chunk)
        return count

    def update(self, model: type[Account] | type[Service], rows: list[dict[str, Any]]) -> None:
        """Update rows by primary key (each dict holds ``id``), a chunk at a time."""
        for start in range(0, len(rows), _CHUNK):
            self.session.execute(update(model), rows[start : start + _CHUNK])
