"""The database handle and the constraints the rest of halosync relies on, on both backends."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from halosync.settings import Settings
from halosync.store import tables
from halosync.store.database import Database, WriteWhileReadingError
from halosync.store.models import Account, Service, Subscription, SyncRun, Workspace
from halosync.store.usage import AccountRepository
from halosync.store.workspaces import WorkspaceRepository


def _add(db: Database, row: object) -> None:
    with db.session() as session:
        session.add(row)
        session.flush()


def _workspace(db: Database, name: str = "acme") -> int:
    with db.session() as session:
        return WorkspaceRepository(session).create(name).id


def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    workspace_id = _workspace(database)

    def add_then_fail() -> None:
        with database.session() as session:
            session.add(
                Account(workspace_id=workspace_id, ref="a", name="A", status="active", billed=True)
            )
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with database.session() as session:
        assert AccountRepository(session, workspace_id).count() == 0


def test_one_active_sync_per_workspace_is_enforced_by_the_database(database: Database) -> None:
    first = _workspace(database, "first")
    second = _workspace(database, "second")
    with database.session() as session:
        session.add(SyncRun(workspace_id=first, kind="usage", trigger="manual", status="running"))
        # Dry runs and other workspaces do not count.
        session.add(SyncRun(workspace_id=first, kind="usage", trigger="manual", dry_run=True))
        session.add(SyncRun(workspace_id=second, kind="usage", trigger="manual"))
    with pytest.raises(IntegrityError):
        _add(database, SyncRun(workspace_id=first, kind="customers", trigger="schedule"))
    with database.session() as session:
        run = session.scalars(select(SyncRun).where(SyncRun.status == "running")).one()
        run.status = "succeeded"
    with database.session() as session:
        session.add(SyncRun(workspace_id=first, kind="customers", trigger="schedule"))


def test_partial_index_has_its_predicate(database: Database) -> None:
    indexes = {ix["name"]: ix for ix in inspect(database.engine).get_indexes("sync_run")}
    index = indexes["uq_sync_run_one_active_per_workspace"]
    assert index["unique"]
    options = index.get("dialect_options", {})
    where = str(options.get(f"{database.dialect}_where", ""))
    assert "queued" in where
    assert "running" in where
    assert "dry_run" in where


def test_schedule_key_dedupes(database: Database) -> None:
    workspace_id = _workspace(database)
    with database.session() as session:
        session.add(
            SyncRun(
                workspace_id=workspace_id,
                kind="usage",
                trigger="schedule",
                status="succeeded",
                schedule_key="k1",
            )
        )
    duplicate = SyncRun(
        workspace_id=workspace_id, kind="usage", trigger="schedule", schedule_key="k1"
    )
    with pytest.raises(IntegrityError):
        _add(database, duplicate)


def test_timestamps_and_money_round_trip(database: Database) -> None:
    workspace_id = _workspace(database)
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    with database.session() as session:
        account = Account(
            workspace_id=workspace_id, ref="a", name="A", status="active", billed=True
        )
        service = Service(workspace_id=workspace_id, ref="s", name="S")
        session.add_all([account, service])
        session.flush()
        session.add(
            Subscription(
                workspace_id=workspace_id,
                account_id=account.id,
                service_id=service.id,
                quantity=3,
                start_date=moment.date(),
                billing_cycle="monthly",
                term="12 months",
                cost_price=Decimal("12345678901.2345"),
                customer_price=Decimal("0.1"),
                updated_at=moment,
            )
        )
    with database.session() as session:
        row = session.scalars(select(Subscription)).one()
        assert row.updated_at == moment
        assert row.updated_at.tzinfo == UTC
        assert row.cost_price == Decimal("12345678901.2345")
        assert row.customer_price == Decimal("0.1000")


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        _add(database, Workspace(name="x", created_at=datetime(2024, 1, 1)))


def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(IntegrityError):
        _add(database, Service(workspace_id=999, ref="s", name="S"))


def test_a_subscription_names_its_own_workspaces_account_and_service_and_goes_with_it(
    database: Database,
) -> None:
    """Two keys, (workspace, account) and (workspace, service): another workspace's
    account is refused, and deleting the workspace still takes its subscriptions."""
    ours, theirs = _workspace(database), _workspace(database, "other")
    with database.session() as session:
        account = Account(workspace_id=theirs, ref="a", name="A", status="active", billed=True)
        service = Service(workspace_id=ours, ref="s", name="S")
        session.add_all([account, service])
        session.flush()
        ids = account.id, service.id
    values = {"quantity": 1, "start_date": datetime(2024, 1, 1).date()}
    values |= {"billing_cycle": "monthly", "term": "monthly", "updated_at": datetime.now(UTC)}
    with pytest.raises(IntegrityError):
        _add(
            database,
            Subscription(workspace_id=ours, account_id=ids[0], service_id=ids[1], **values),
        )
    with database.session() as session:
        account = Account(workspace_id=ours, ref="a", name="A", status="active", billed=True)
        session.add(account)
        session.flush()
        session.add(
            Subscription(workspace_id=ours, account_id=account.id, service_id=ids[1], **values)
        )
    with database.session() as session:
        session.execute(delete(Workspace).where(Workspace.id == ours))
    with database.session() as session:
        assert session.scalars(select(Subscription)).all() == []


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_from_settings_defaults_to_a_file_in_the_data_dir() -> None:
    settings = Settings()
    db = Database.from_settings(settings)
    db.migrate()
    assert (settings.data_dir / "halosync.db").exists()
    db.dispose()


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(Exception, match="Unsupported database"):
        Database("mysql://localhost/x")


def test_a_read_does_not_wait_for_a_writer_and_sees_what_was_committed(
    database: Database,
) -> None:
    """A page's reads go on while an import holds its (SQLite: the write) transaction."""
    with database.session() as session:
        WorkspaceRepository(session).create("Before")
    writing = threading.Event()
    done = threading.Event()

    def writer() -> None:
        with database.session() as session:
            WorkspaceRepository(session).create("During")
            session.flush()
            writing.set()
            done.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        with database.reading() as session:
            names = set(session.scalars(select(Workspace.name)))
        assert time.monotonic() - started < 2
        assert names == {"Before"}
    finally:
        done.set()
        thread.join()
    with database.reading() as session:
        assert set(session.scalars(select(Workspace.name))) == {"Before", "During"}


def test_a_read_only_transaction_refuses_a_write_and_the_next_one_writes(
    database: Database,
) -> None:
    def write_while_reading() -> None:
        with database.reading() as session:
            WorkspaceRepository(session).create("Refused")
            session.flush()

    with pytest.raises(WriteWhileReadingError):
        write_while_reading()
    with database.session() as session:  # the same pooled connection writes again
        WorkspaceRepository(session).create("Written")
    with database.reading() as session:
        assert list(session.scalars(select(Workspace.name))) == ["Written"]


def test_a_core_read_connection_is_the_same_read_only_transaction(database: Database) -> None:
    """``halosync logs`` reads on a Core connection (no ORM loaded): it sees what was
    committed and refuses a write as ``reading()`` does, and the connection writes again."""
    with database.session() as session:
        WorkspaceRepository(session).create("Written")
    with database.read_connection() as connection:
        assert list(connection.scalars(select(tables.workspace.c.name))) == ["Written"]

    def write_while_reading() -> None:
        with database.read_connection() as connection:
            connection.execute(insert(tables.workspace).values(name="Refused"))

    with pytest.raises(WriteWhileReadingError):
        write_while_reading()
    with database.session() as session:
        WorkspaceRepository(session).create("Again")
    with database.read_connection() as connection:
        names = connection.scalars(select(tables.workspace.c.name).order_by(tables.workspace.c.id))
        assert list(names) == ["Written", "Again"]
