"""An import's subscriptions written set-based: a staging table, a chunk at a time.

Each chunk of validated subscriptions (up to :data:`CHUNK_ROWS`) is copied into a temporary
table of the import's own transaction (PostgreSQL ``COPY``, SQLite ``executemany``);
matching, comparing, inserting and updating the chunk are then one statement each, never a
statement per row. So the database can work on one chunk while the next is still being
read and validated (see :mod:`halosync.sources.importer`), and memory holds one chunk.

What must see the whole import (a snapshot's subscriptions the vendor no longer lists, the
pairs given a term beside one stored before) is kept in a second temporary table of
subscription ids as the chunks go by. Both tables are dropped before the transaction
commits, and a transaction that fails takes them with it (both databases roll back DDL).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
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
SEEN_TABLE = "halosync_import_seen"
PAIRS_TABLE = "halosync_import_pairs"
CHUNK_ROWS = 20_000
"""Subscriptions staged and written at a time: large enough that a statement's fixed cost
is small beside its rows' (at 1,000,000 rows, 50 chunks), small enough to hold two in
memory (one being written, one being read) without noticing."""
_SUBSCRIPTION: Table = Subscription.__table__  # type: ignore[assignment]
# What load() takes per subscription: its account's and service's ids, its values in
# SUBSCRIPTION_VALUES order as the database stores them, then which of the optional ones
# it gave (see given_of).
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


def _staging_table(metadata: MetaData) -> Table:
    return Table(
        STAGING_TABLE,
        metadata,
        Column("seq", Integer, nullable=False),
        Column("account_id", Integer, nullable=False),
        Column("service_id", Integer, nullable=False),
        *(Column(name, _SUBSCRIPTION.c[name].type) for name in SUBSCRIPTION_VALUES),
        Column("given", Integer, nullable=False),
        Column("subscription_id", Integer),
        prefixes=["TEMPORARY"],
    )


def _seen_table(metadata: MetaData) -> Table:
    # Every subscription this import listed (matched or created), and whether it created it.
    return Table(
        SEEN_TABLE,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("created", Boolean, nullable=False),
        prefixes=["TEMPORARY"],
    )


def _pairs_table(metadata: MetaData) -> Table:
    # Account x service pairs given a new term beside one stored before this import.
    return Table(
        PAIRS_TABLE,
        metadata,
        Column("account_id", Integer, primary_key=True),
        Column("service_id", Integer, primary_key=True),
        prefixes=["TEMPORARY"],
    )


def _active(status: Any) -> ColumnElement[bool]:
    """Not ended, as the planner reads the vendor's text (``subscription_status``)."""
    return func.lower(func.trim(func.coalesce(status, ""))).not_in(sorted(ENDED_STATUS_TEXTS))


class SubscriptionStaging:
    """One import's subscriptions, staged a chunk at a time in ``session``'s transaction,
    for one workspace.

    Per chunk: :meth:`load`, :meth:`match`, :meth:`update_changed`, then (when some are
    new) :meth:`note_pairs_gaining_a_term` and :meth:`insert_new`, then :meth:`note_seen`.
    After the last chunk, for a snapshot, :meth:`unlisted_active` and
    :meth:`cancel_unlisted`; :meth:`count_pairs_gaining_a_term`; :meth:`drop`.
    """

    def __init__(self, session: Session, workspace_id: int, *, snapshot: bool) -> None:
        self.session = session
        self.workspace_id = workspace_id
        metadata = MetaData()
        self.table = _staging_table(metadata)
        self.seen = _seen_table(metadata)
        self.pairs = _pairs_table(metadata)
        self._dialect = session.get_bind().dialect.name
        self._created = False
        existing = _SUBSCRIPTION.c
        # With no subscription stored before, no pair can gain a term beside one: the
        # common first import skips that work.
        self.stored_before = bool(
            session.scalar(select(exists().where(existing.workspace_id == workspace_id)))
        )
        # A snapshot cancels what no chunk listed (matched or created); a pair gains a term
        # only beside one stored before this import, not one an earlier chunk created.
        self._notes_matched = snapshot
        self._notes_created = snapshot or self.stored_before

    def _create(self) -> None:
        connection = self.session.connection()
        for table in (self.table, self.seen, self.pairs):
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
            table.create(connection)
        if self._dialect == "postgresql":
            # A chunk is small beside the workspace's subscriptions: each statement must
            # look its rows up by index. Weighed by cost, PostgreSQL would rather scan the
            # whole table into a hash join, once per chunk per statement: at 1,000,000 rows
            # that was 50 scans of up to 1,000,000 rows each (a re-import's server CPU
            # 10 s -> 53 s). Nor is a chunk's statement worth compiling (JIT), which
            # PostgreSQL would do afresh for every chunk. For this transaction only.
            connection.exec_driver_sql("SET LOCAL enable_hashjoin = off")
            connection.exec_driver_sql("SET LOCAL enable_mergejoin = off")
            connection.exec_driver_sql("SET LOCAL jit = off")
        self._created = True

    def load(self, rows: Sequence[StagedRow], first_seq: int) -> None:
        """Stage one chunk (replacing the last): ``rows`` are the batch's subscriptions
        from number ``first_seq`` on, in order."""
        connection = self.session.connection()
        if not self._created:
            self._create()
        elif self._dialect == "postgresql":
            connection.exec_driver_sql(f"TRUNCATE {STAGING_TABLE}")
        else:
            connection.exec_driver_sql(f"DELETE FROM {STAGING_TABLE}")  # noqa: S608 (constant)
        columns = [column.name for column in self.table.c if column.name != "subscription_id"]
        driver = connection.connection.driver_connection
        assert driver is not None
        numbered = ((seq, *row) for seq, row in enumerate(rows, first_seq))
        if self._dialect == "postgresql":
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {STAGING_TABLE} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in numbered:
                    copy.write_row(row)
        else:
            # The chunk as one JSON text, unpacked by SQLite in one statement: executemany
            # would hand the GIL back and forth with the reading thread at every row.
            unpacked = ", ".join(
                f"json_extract(value, '$[{index}]')" for index in range(len(columns))
            )
            driver.execute(
                f"INSERT INTO {STAGING_TABLE} ({', '.join(columns)}) "  # noqa: S608 (constants)
                f"SELECT {unpacked} FROM json_each(?)",
                (json.dumps(list(numbered)),),
            )

    def match(self) -> int:
        """Note which staged subscriptions exist already; how many do."""
        if not self.stored_before:
            # Every subscription of the workspace is this import's, whose keys never repeat.
            return 0
        staged, existing = self.table.c, _SUBSCRIPTION.c
        # Looked up row by row from the chunk (a correlated subquery, through the
        # subscription's unique key), never by walking the workspace's subscriptions once
        # per chunk: the term in any letter case (lower() on both sides, as
        # sources.batch.term_key) narrows the key's first three columns.
        stored = (
            select(existing.id)
            .where(
                existing.workspace_id == self.workspace_id,
                existing.account_id == staged.account_id,
                existing.service_id == staged.service_id,
                func.lower(existing.term) == func.lower(staged.term),
            )
            .limit(1)
            .scalar_subquery()
        )
        self.session.execute(update(self.table).values(subscription_id=stored))
        return (
            self.session.scalar(select(func.count()).where(staged.subscription_id.is_not(None)))
            or 0
        )

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

    def note_pairs_gaining_a_term(self) -> None:
        """Remember the account × service pairs whose new staged subscriptions add a
        term beside an active one stored before this import (then the terms rule combines
        them: summed by default, where before terms the new one replaced the old)."""
        if not self.stored_before:
            return
        staged, existing, seen, pairs = self.table.c, _SUBSCRIPTION.c, self.seen.c, self.pairs.c
        gaining = (
            select(staged.account_id, staged.service_id)
            .where(
                staged.subscription_id.is_(None),
                exists().where(
                    existing.workspace_id == self.workspace_id,
                    existing.account_id == staged.account_id,
                    existing.service_id == staged.service_id,
                    _active(existing.status),
                    ~exists().where(seen.id == existing.id, seen.created),
                ),
                ~exists().where(
                    pairs.account_id == staged.account_id, pairs.service_id == staged.service_id
                ),
            )
            .distinct()
        )
        self.session.execute(insert(self.pairs).from_select(["account_id", "service_id"], gaining))

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

    def note_seen(self, *, created: bool) -> None:
        """Remember the chunk's subscriptions for what needs the whole import: the ones
        matched, and (``created``: after :meth:`insert_new`) the ones it inserted."""
        staged, existing = self.table.c, _SUBSCRIPTION.c
        if self._notes_matched:
            listed = select(staged.subscription_id, literal(False)).where(
                staged.subscription_id.is_not(None)
            )
            self.session.execute(insert(self.seen).from_select(["id", "created"], listed))
        if created and self._notes_created:
            # Inserted with the staged term as it is: the unique index finds each.
            inserted = select(existing.id, literal(True)).where(
                staged.subscription_id.is_(None),
                existing.workspace_id == self.workspace_id,
                existing.account_id == staged.account_id,
                existing.service_id == staged.service_id,
                existing.term == staged.term,
            )
            self.session.execute(insert(self.seen).from_select(["id", "created"], inserted))

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
        existing = _SUBSCRIPTION.c
        return [
            existing.workspace_id == self.workspace_id,
            _active(existing.status),
            ~exists().where(self.seen.c.id == existing.id),
        ]

    def unlisted_active(self) -> Iterator[tuple[str, str, str]]:
        """``(account_ref, service_ref, term)`` of active subscriptions no chunk listed, by
        reference (a snapshot: only after its last chunk)."""
        if not self._created:
            self._create()
        rows = self.session.execute(
            select(Account.ref, Service.ref, _SUBSCRIPTION.c.term)
            .select_from(_SUBSCRIPTION)
            .join(Account, Account.id == _SUBSCRIPTION.c.account_id)
            .join(Service, Service.id == _SUBSCRIPTION.c.service_id)
            .where(*self._unlisted_active())
            .order_by(Account.ref, Service.ref, _SUBSCRIPTION.c.term)
            .execution_options(yield_per=CHUNK_ROWS)
        )
        for row in rows:
            yield (row[0], row[1], row[2])

    def cancel_unlisted(self, now: datetime) -> int:
        """Cancel every active subscription no chunk listed, marked as no longer sent;
        how many."""
        if not self._created:
            self._create()
        result = self.session.execute(
            update(_SUBSCRIPTION)
            .where(*self._unlisted_active())
            .values(status=CANCELLED, unlisted=True, updated_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def count_pairs_gaining_a_term(self) -> int:
        """How many account × service pairs the import gave a term beside an active one
        stored before it (see :meth:`note_pairs_gaining_a_term`)."""
        if not self._created:
            return 0
        return self.session.scalar(select(func.count()).select_from(self.pairs)) or 0

    def drop(self) -> None:
        """Drop the temporary tables (inside the transaction, before it commits)."""
        if self._created:
            connection = self.session.connection()
            for table in (self.table, self.seen, self.pairs):
                table.drop(connection)
            self._created = False
