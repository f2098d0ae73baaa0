"""An import's subscriptions written set-based: a staging table, then one statement each.

The validated subscriptions are copied into a temporary table of the import's own
transaction (PostgreSQL ``COPY``, SQLite ``executemany`` a chunk at a time); matching,
comparing, inserting, updating and cancelling are then one statement each, never a
statement per row. The table is dropped before the transaction commits, and a transaction
that fails takes it with it (both databases roll back DDL).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from halosync.domain.models import ENDED_STATUS_TEXTS
from halosync.store.base import UTCDateTime
from halosync.store.models import (
    CANCELLED,
    SUBSCRIPTION_VALUES,
    Account,
    Service,
    Subscription,
)

STAGING_TABLE = "halosync_import_staging"
_CHUNK = 5000
_SUBSCRIPTION: Table = Subscription.__table__  # type: ignore[assignment]
# What load() takes per subscription: its place in the batch, its account's and service's
# ids, its values in SUBSCRIPTION_VALUES order as the database stores them, then which of
# the optional ones it gave (see given_of).
StagedRow = tuple[Any, ...]
# The values a subscription may leave out (those it may clear): one left out keeps what is
# stored, where a new subscription has none. Every subscription gives the others.
OPTIONAL_VALUES = tuple(name for name in SUBSCRIPTION_VALUES if _SUBSCRIPTION.c[name].nullable)
_GIVEN_BIT = {name: 1 << place for place, name in enumerate(OPTIONAL_VALUES)}


def given_of(names: Container[str]) -> int:
    """The staged ``given`` of a subscription that gave the fields ``names`` (a value
    sent as null, or a blank cell, is given: it clears the stored one)."""
    given = 0
    for name, bit in _GIVEN_BIT.items():
        if name in names:
            given |= bit
    return given


def _staging_table() -> Table:
    return Table(
        STAGING_TABLE,
        MetaData(),
        Column("seq", Integer, nullable=False),
        Column("account_id", Integer, nullable=False),
        Column("service_id", Integer, nullable=False),
        *(Column(name, _SUBSCRIPTION.c[name].type) for name in SUBSCRIPTION_VALUES),
        Column("given", Integer, nullable=False),
        Column("subscription_id", Integer),
        prefixes=["TEMPORARY"],
    )


def _active(status: Any) -> ColumnElement[bool]:
    """Not ended, as the planner reads the vendor's text (``subscription_status``)."""
    return func.lower(func.trim(func.coalesce(status, ""))).not_in(sorted(ENDED_STATUS_TEXTS))


class SubscriptionStaging:
    """One import's subscriptions staged in ``session``'s transaction, for one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.table = _staging_table()
        self._dialect = session.get_bind().dialect.name
        self._indexed = False
        self._matched = 0

    def load(self, rows: Iterable[StagedRow]) -> None:
        """Create the staging table and fill it with ``rows``, streaming them."""
        connection = self.session.connection()
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        self.table.create(connection)
        columns = [column.name for column in self.table.c if column.name != "subscription_id"]
        driver = connection.connection.driver_connection
        assert driver is not None
        if self._dialect == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {STAGING_TABLE} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            connection.exec_driver_sql(f"ANALYZE {STAGING_TABLE}")
        else:
            statement = (
                f"INSERT INTO {STAGING_TABLE} ({', '.join(columns)}) "  # noqa: S608 (constants)
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            cursor = driver.cursor()
            try:
                for chunk in _chunks(rows):
                    cursor.executemany(statement, chunk)
            finally:
                cursor.close()

    def match(self) -> int:
        """Note which staged subscriptions exist already; how many do."""
        staged, existing = self.table.c, _SUBSCRIPTION.c
        # The term is matched in any letter case (lower() on both sides), which no index of
        # either table serves: without this one the database may walk the staged rows for
        # every stored subscription (a re-import of 10,000 rows took 5.5 s, 100,000 minutes).
        self.session.connection().exec_driver_sql(
            f"CREATE INDEX {STAGING_TABLE}_pair ON {STAGING_TABLE} (account_id, service_id)"
        )
        self.session.execute(
            update(self.table)
            .where(
                existing.workspace_id == self.workspace_id,
                existing.account_id == staged.account_id,
                existing.service_id == staged.service_id,
                # One term whatever its letter case (sources.batch.term_key).
                func.lower(existing.term) == func.lower(staged.term),
            )
            .values(subscription_id=existing.id)
        )
        self._matched = (
            self.session.scalar(select(func.count()).where(staged.subscription_id.is_not(None)))
            or 0
        )
        return self._matched

    def count_active(self) -> int:
        """How many of the workspace's subscriptions are not cancelled."""
        existing = _SUBSCRIPTION.c
        return (
            self.session.scalar(
                select(func.count()).where(
                    existing.workspace_id == self.workspace_id, _active(existing.status)
                )
            )
            or 0
        )

    def _unlisted_active(self) -> list[ColumnElement[bool]]:
        if not self._indexed:
            Index(f"ix_{STAGING_TABLE}_id", self.table.c.subscription_id).create(
                self.session.connection()
            )
            self._indexed = True
        existing = _SUBSCRIPTION.c
        return [
            existing.workspace_id == self.workspace_id,
            _active(existing.status),
            ~exists().where(self.table.c.subscription_id == existing.id),
        ]

    def unlisted_active(self) -> Iterator[tuple[str, str, str]]:
        """``(account_ref, service_ref, term)`` of active subscriptions not staged, by
        reference."""
        rows = self.session.execute(
            select(Account.ref, Service.ref, _SUBSCRIPTION.c.term)
            .select_from(_SUBSCRIPTION)
            .join(Account, Account.id == _SUBSCRIPTION.c.account_id)
            .join(Service, Service.id == _SUBSCRIPTION.c.service_id)
            .where(*self._unlisted_active())
            .order_by(Account.ref, Service.ref, _SUBSCRIPTION.c.term)
            .execution_options(yield_per=_CHUNK)
        )
        for row in rows:
            yield (row[0], row[1], row[2])

    def cancel_unlisted(self, now: datetime) -> int:
        """Cancel every active subscription not staged, marked as no longer sent; how many."""
        result = self.session.execute(
            update(_SUBSCRIPTION)
            .where(*self._unlisted_active())
            .values(status=CANCELLED, unlisted=True, updated_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def update_changed(self, now: datetime) -> int:
        """Write the staged values over existing subscriptions that differ, or that a
        snapshot left out before (the vendor sends them again); how many. An optional
        value the subscription left out keeps the stored one (a vendor sending just the
        count keeps its price), except the ``cancelled`` a snapshot set; the term keeps
        the text first stored (it names the records kept apart in the ledger)."""
        staged, existing = self.table.c, _SUBSCRIPTION.c
        names = [name for name in SUBSCRIPTION_VALUES if name != "term"]
        given = {name: staged.given.bitwise_and(bit) != 0 for name, bit in _GIVEN_BIT.items()}
        differs = [
            existing[name].is_distinct_from(staged[name])
            if name not in given
            else and_(given[name], existing[name].is_distinct_from(staged[name]))
            for name in names
        ]
        kept = {name: existing[name] for name in given} | {
            # A snapshot's cancel was inferred from the missing row, not the vendor's status:
            # listed again with none given, it has none, as a new subscription.
            "status": case((existing.unlisted, None), else_=existing.status)
        }
        values = {
            name: staged[name]
            if name not in given
            else case((given[name], staged[name]), else_=kept[name])
            for name in names
        }
        result = self.session.execute(
            update(_SUBSCRIPTION)
            .where(existing.id == staged.subscription_id, or_(existing.unlisted, *differs))
            .values(values | {"unlisted": False, "updated_at": now})
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def count_pairs_gaining_a_term(self) -> int:
        """How many account × service pairs the new staged subscriptions give a further
        term beside one already stored (then the terms rule combines them: summed by
        default, where before terms the new one replaced the old)."""
        staged, existing = self.table.c, _SUBSCRIPTION.c
        if self._dialect == "postgresql" and self._matched:
            # The statistics still say no staged row exists (taken before the match):
            # planned on them, this walked the staged rows once per stored subscription.
            self.session.connection().exec_driver_sql(f"ANALYZE {STAGING_TABLE}")
        gaining = (
            select(staged.account_id, staged.service_id)
            .where(
                staged.subscription_id.is_(None),
                exists().where(
                    existing.workspace_id == self.workspace_id,
                    existing.account_id == staged.account_id,
                    existing.service_id == staged.service_id,
                    _active(existing.status),
                ),
            )
            .distinct()
            .subquery()
        )
        return self.session.scalar(select(func.count()).select_from(gaining)) or 0

    def insert_new(self, now: datetime) -> None:
        """Insert the staged subscriptions that do not exist yet, in batch order."""
        staged = self.table.c
        self.session.execute(
            insert(_SUBSCRIPTION).from_select(
                ["workspace_id", "account_id", "service_id", *SUBSCRIPTION_VALUES, "updated_at"],
                select(
                    literal(self.workspace_id, Integer),
                    staged.account_id,
                    staged.service_id,
                    *(staged[name] for name in SUBSCRIPTION_VALUES),
                    literal(now, UTCDateTime()),
                )
                .where(staged.subscription_id.is_(None))
                .order_by(staged.seq),
            )
        )

    def drop(self) -> None:
        """Drop the staging table (inside the transaction, before it commits)."""
        self.table.drop(self.session.connection())


def _chunks(rows: Iterable[StagedRow]) -> Iterator[list[StagedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk
