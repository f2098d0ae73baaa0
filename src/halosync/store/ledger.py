"""Rows of ``ledger_entry``: what halosync wrote where in Halo, per account × service. Which
rows a batch writes and with what values is decided by :class:`halosync.sync.ledger.LedgerBook`;
this is only their SQL, one statement per kind per chunk (never one per row)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from halosync.store.models import AuditEntry, LedgerEntry

_LEDGER = cast(Table, LedgerEntry.__table__)
_KEEP_MARKER: ColumnElement[str] = func.coalesce(bindparam("new_marker"), _LEDGER.c.marker)
"""An update without a marker of its own keeps the row's (an update never re-tags)."""

RowKey = tuple[int, int, int, str]
"""A ledger row's unique key: account id, service id, Halo client id, apart term."""


class LedgerRepository:
    """One workspace's ledger rows of one target."""

    def __init__(self, session: Session, workspace_id: int, target: str) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.target = target

    def alive(self, row_ids: Collection[int]) -> set[int]:
        """Those of ``row_ids`` that still exist."""
        if not row_ids:
            return set()
        return set(self.session.scalars(select(_LEDGER.c.id).where(_LEDGER.c.id.in_(row_ids))))

    def update_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Set the given columns of rows by id, in one statement (executemany).

        Each dict holds ``row_id``, ``new_marker`` (None keeps the stored marker) and the
        same other columns as every other dict.
        """
        if not rows:
            return
        # Parameters are prefixed: SQLAlchemy reserves a column's own name for the SET.
        names = [name for name in rows[0] if name not in ("row_id", "new_marker")]
        self.session.execute(
            update(_LEDGER)
            .where(_LEDGER.c.id == bindparam("row_id"))
            .values(marker=_KEEP_MARKER, **{name: bindparam(f"v_{name}") for name in names}),
            [
                {"row_id": row["row_id"], "new_marker": row["new_marker"]}
                | {f"v_{name}": row[name] for name in names}
                for row in rows
            ],
        )

    def insert_rows(self, rows: Sequence[dict[str, Any]]) -> dict[RowKey, int]:
        """Add rows in one statement; (account id, service id, Halo client id, apart term) ->
        new row id of each, read back by that unique key in one query (a RETURNING in
        parameter order is a statement per row on SQLite)."""
        if not rows:
            return {}
        self.session.execute(insert(_LEDGER), list(rows))
        keys = {
            (row["account_id"], row["service_id"], row["halo_client_id"], row["apart_term"])
            for row in rows
        }
        found: dict[RowKey, int] = {}
        for row_id, account_id, service_id, client_id, apart_term in self.session.execute(
            select(
                _LEDGER.c.id,
                _LEDGER.c.account_id,
                _LEDGER.c.service_id,
                _LEDGER.c.halo_client_id,
                _LEDGER.c.apart_term,
            ).where(
                _LEDGER.c.workspace_id == self.workspace_id,
                _LEDGER.c.target == self.target,
                _LEDGER.c.account_id.in_({account_id for account_id, _, _, _ in keys}),
            )
        ):
            if (key := (account_id, service_id, client_id, apart_term)) in keys:
                found[key] = row_id
        return found

    def earlier_records(self, audit_entity: str) -> frozenset[int]:
        """Halo records halosync created (audit entries of ``audit_entity``) that no ledger
        row of this target names now.

        After a first sync of 100,000 pairs both sides hold 100,000 ids: they are read in id
        order and merged as they stream, so neither is held (and no NOT EXISTS runs without
        an index on the record id).
        """
        created = self.session.scalars(
            select(AuditEntry.halo_record_id)
            .where(
                AuditEntry.workspace_id == self.workspace_id,
                AuditEntry.entity == audit_entity,
                AuditEntry.operation == "create",
                AuditEntry.halo_record_id.is_not(None),
            )
            .distinct()
            .order_by(AuditEntry.halo_record_id)
            .execution_options(yield_per=5000)
        )
        named = self.session.scalars(
            select(LedgerEntry.halo_record_id)
            .where(
                LedgerEntry.workspace_id == self.workspace_id,
                LedgerEntry.target == self.target,
                LedgerEntry.halo_record_id.is_not(None),
            )
            .distinct()
            .order_by(LedgerEntry.halo_record_id)
            .execution_options(yield_per=5000)
        )
        try:
            return frozenset(_not_in(created, named))
        finally:
            # The merge may stop before reading all of ``named``: close both cursors (on
            # PostgreSQL server-side ones), or they stay open until collected.
            created.close()
            named.close()


def _not_in(ids: Iterable[int | None], others: Iterable[int | None]) -> Iterator[int]:
    """The ids of ``ids`` not in ``others`` (both in ascending order)."""
    rest = iter(others)
    other = next(rest, None)
    for record_id in ids:
        if record_id is None:
            continue
        while other is not None and other < record_id:
            other = next(rest, None)
        if other != record_id:
            yield record_id
