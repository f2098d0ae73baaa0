"""An import among the other writers of the database: another import into the same
workspace, the database failing under the writing thread, a sync that keeps its heartbeat,
a plug-in paced by its vendor, Ctrl-C.

Two imports into one workspace take turns (SQLite's write lock, PostgreSQL's advisory
lock), so both apply whole; a writer waiting too long is told the database is locked (the
503 'try again'), a full disk that the disk is full; and on SQLite the time an import held
the write lock does not count against the heartbeat of a sync it kept from writing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text, update

from halosync.sources import importer
from halosync.sources.apply import UsageApplier
from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import ImportValidationError, Location
from halosync.sources.importer import import_file, import_records
from halosync.sources.plugins import SourceRecord
from halosync.store import database as database_module
from halosync.store import staging
from halosync.store.base import utcnow
from halosync.store.database import Database, DatabaseUnavailableError
from halosync.store.models import SyncRun
from halosync.store.staging import SubscriptionStaging
from halosync.store.usage_writes import UsageWriter
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.runs import beat, reap_all_stale_runs, start_run
from tests.busy_database import locked
from tests.sources.conftest import HEADER
from tests.sources.test_import_chunks import _csv, _line, _no_staging_left, _state


def _import_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("halosync-import")]


def test_two_imports_into_one_workspace_at_once_take_turns_and_both_apply_whole(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same accounts in opposite orders: on PostgreSQL two transactions inserting them
    at once waited for each other (a deadlock, said as 'Lost the connection')."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 60)
    files = {
        quantity: _csv(
            tmp_path,
            f"{quantity}.csv",
            [_line(a, s, quantity) for a in order for s in range(3)],
        )
        for quantity, order in ((1, range(200)), (2, range(199, -1, -1)))
    }
    outcomes: dict[int, object] = {}

    def run(quantity: int) -> None:
        try:
            outcomes[quantity] = import_file(database, workspace_id, files[quantity]).as_dict()
        except Exception as error:
            outcomes[quantity] = error

    threads = [threading.Thread(target=run, args=(quantity,)) for quantity in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(outcome, dict) for outcome in outcomes.values()), outcomes
    # One applied after the other: every subscription holds the same one's count.
    quantities = {row[3] for row in _state(database, workspace_id)}
    assert len(quantities) == 1
    assert len(_state(database, workspace_id)) == 600


@pytest.fixture
def short_lock_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers give up waiting for another's lock after 0.3 s instead of 30 s."""
    monkeypatch.setattr(database_module, "WRITE_LOCK_WAIT_MS", 300)


@pytest.mark.usefixtures("short_lock_wait")
def test_an_import_waiting_too_long_for_another_is_told_the_database_is_locked(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    path = _csv(tmp_path, "usage.csv", [_line(a, 0, 1) for a in range(5)])
    with (
        _another_import_running(database, workspace_id),
        pytest.raises(DatabaseUnavailableError) as caught,
    ):
        import_file(database, workspace_id, path)
    assert "stayed locked by another halosync process" in caught.value.message
    assert "Lost the connection" not in caught.value.message
    assert _state(database, workspace_id) == []
    assert import_file(database, workspace_id, path).subscriptions.created == 5


@contextmanager
def _another_import_running(database: Database, workspace_id: int) -> Iterator[None]:
    """Another process is in the middle of an import into the workspace: on SQLite it holds
    the write lock, on PostgreSQL the workspace's import lock."""
    if database.dialect == "sqlite":
        with locked(database):
            yield
        return
    with database.session() as session:
        UsageWriter(session, workspace_id).take_turn()
        yield


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_full_disk_under_the_writing_thread_is_said_so_and_leaves_nothing(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database file may not grow (SQLite's max_page_count: its 'database or disk is
    full', as from a full disk) while chunks are written."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 50)
    with database.session() as session:
        pages = session.scalar(text("PRAGMA page_count"))

    def cannot_grow(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 8}")

    event.listen(database.engine, "connect", cannot_grow)
    database.engine.dispose()
    lines = [_line(a, s, 1) for a in range(400) for s in range(3)]
    path = _csv(tmp_path, "usage.csv", lines)
    with pytest.raises(DatabaseUnavailableError) as caught:
        import_file(database, workspace_id, path)
    assert caught.value.message.startswith("The database's disk is full (database or disk")
    assert "free" in (caught.value.fix or "").lower()
    assert not _import_threads()
    event.remove(database.engine, "connect", cannot_grow)
    database.engine.dispose()
    assert _state(database, workspace_id) == []
    _no_staging_left(database)
    assert import_file(database, workspace_id, path).subscriptions.created == 1200


@pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_connection_lost_under_the_writing_thread_stops_the_import_soon(
    database: Database,
    workspace_id: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
) -> None:
    """The server ends the import's connection at its third chunk: the reading stops by the
    next chunk, nothing is left, no thread stays, and the next import works."""
    import psycopg

    monkeypatch.setattr(staging, "CHUNK_ROWS", 50)
    load = SubscriptionStaging.load
    chunks: list[int] = []

    def cut_off(self: SubscriptionStaging, rows: Any, first_seq: int) -> None:
        chunks.append(first_seq)
        if len(chunks) == 3:
            backend = self.session.scalar(text("SELECT pg_backend_pid()"))
            with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (backend,))
        load(self, rows, first_seq)

    monkeypatch.setattr(SubscriptionStaging, "load", cut_off)
    path = _csv(tmp_path, "usage.csv", [_line(a, s, 1) for a in range(400) for s in range(3)])
    with pytest.raises(DatabaseUnavailableError, match="Lost the connection to the database"):
        import_file(database, workspace_id, path)
    assert chunks == [0, 50, 100]
    assert not _import_threads()
    monkeypatch.undo()
    assert _state(database, workspace_id) == []
    assert import_file(database, workspace_id, path).subscriptions.created == 1200


@pytest.fixture
def slow_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk takes 0.3 s to write: 5 chunks hold SQLite's write lock 1.5 s."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 10)
    load = SubscriptionStaging.load

    def slow(self: SubscriptionStaging, rows: Any, first_seq: int) -> None:
        load(self, rows, first_seq)
        time.sleep(0.3)

    monkeypatch.setattr(SubscriptionStaging, "load", slow)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("refused", [False, True], ids=["committed", "refused"])
@pytest.mark.usefixtures("slow_chunks")
def test_a_sync_an_import_kept_from_beating_is_not_reaped_and_a_dead_one_still_is(
    database: Database, workspace_id: int, tmp_path: Path, refused: bool
) -> None:
    """The import holds SQLite's write lock 1.5 s (and then commits, or is refused for its
    last row); a sync is taken as dead after 1 s without a heartbeat. One that beat just
    before could not beat meanwhile: that is not death. One silent for 5 s before is dead.
    (No beating thread: which writer SQLite lets in first after the import is chance.)"""
    runs = {}
    for name, silent in (("alive", 0.1), ("dead", 5.0)):
        with database.session() as session:
            workspace = workspace_id if name == "alive" else None
            workspace = workspace or WorkspaceRepository(session).create(name).id
        runs[name] = start_run(database, workspace, kind="usage", trigger="manual")
        with database.session() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == runs[name])
                .values(heartbeat_at=utcnow() - timedelta(seconds=silent))
            )
    lines = [_line(a, 0, 1) for a in range(50)] + ([_line(99, 0, -1)] if refused else [])
    path = _csv(tmp_path, "usage.csv", lines)
    if refused:
        with pytest.raises(ImportValidationError):
            import_file(database, workspace_id, path)
    else:
        import_file(database, workspace_id, path)
    assert reap_all_stale_runs(database, stale_after_seconds=1.0) == [runs["dead"]]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_heartbeat_that_waited_for_the_write_lock_says_when_it_was_written(
    database: Database, workspace_id: int
) -> None:
    run_id = start_run(database, workspace_id, kind="usage", trigger="manual")
    path = database.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released: list[datetime] = []

    def release() -> None:
        time.sleep(0.3)
        released.append(utcnow())
        other.execute("ROLLBACK")

    releasing = threading.Thread(target=release)
    releasing.start()
    beat(database, run_id)
    releasing.join()
    other.close()
    with database.session() as session:
        written = session.scalar(select(SyncRun.heartbeat_at).where(SyncRun.id == run_id))
    assert written is not None
    assert written >= released[0]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_plug_in_paced_by_its_vendor_keeps_no_write_lock_while_it_fetches(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plug-in's records come at the vendor's pace (pages of an API, minutes for a large
    account): on SQLite an import holds the one write lock from its first chunk written to
    its end, so chunks written while the plug-in fetches the rest would keep every other
    writer (a sync's ledger, its heartbeat, the UI) waiting, and refused after 30 s."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 10)
    columns = HEADER.split(",")
    other_writes: list[str] = []

    def fetching() -> Iterator[SourceRecord]:
        for page in range(4):
            # Between the vendor's pages another process writes, waiting 0.2 s at most.
            path = database.engine.url.database
            assert path
            other = sqlite3.connect(path, isolation_level=None, timeout=0.2)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                other_writes.append("written")
            except sqlite3.OperationalError as error:
                other_writes.append(str(error))
            finally:
                other.close()
            for account in range(page * 15, page * 15 + 15):
                cells = _line(account, 0, 1).split(",")
                yield SourceRecord(
                    "row", dict(zip(columns, cells, strict=True)), Location(f"record {account}")
                )

    report = import_records(database, workspace_id, fetching())
    assert report.subscriptions.created == 60
    assert other_writes == ["written"] * 4
    assert len(_state(database, workspace_id)) == 60


def test_ctrl_c_while_the_writing_thread_finishes_the_import_commits_nothing(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C reaches the reading (main) thread while the writing thread does the import's
    last work (the last chunk, a snapshot's cancellations): the CLI stops saying it was
    aborted, so the import must not then be committed behind its back."""
    finish, close = UsageApplier.finish, importer._Transaction.close
    given_up = threading.Event()

    def interrupted(self: UsageApplier, batch: Any, *, allow_mass_cancel: bool) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        assert given_up.wait(timeout=30)  # the reading thread has given the import up
        return finish(self, batch, allow_mass_cancel=allow_mass_cancel)

    def closing(self: importer._Transaction, **options: Any) -> None:
        given_up.set()
        close(self, **options)

    monkeypatch.setattr(UsageApplier, "finish", interrupted)
    monkeypatch.setattr(importer._Transaction, "close", closing)
    path = _csv(tmp_path, "usage.csv", [_line(a, 0, 1) for a in range(20)])
    with pytest.raises(KeyboardInterrupt):
        import_file(database, workspace_id, path)
    assert _state(database, workspace_id) == []
    _no_staging_left(database)
    monkeypatch.undo()
    assert import_file(database, workspace_id, path).subscriptions.created == 20


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_ctrl_c_while_the_import_waits_for_the_write_lock_stops_it_at_once(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock; the import's first chunk waits for it (up
    to the busy timeout, here 5 s) while the reading goes on. Ctrl-C stopped the CLI only
    when that wait ended (26 s of a 30 s timeout, a second Ctrl-C no sooner): it waited for
    the writing thread before rolling back, and the process for that thread before
    exiting. Now it stops at once; the writing thread rolls back when its wait ends."""
    monkeypatch.setattr(database_module, "WRITE_LOCK_WAIT_MS", 5000)
    monkeypatch.setattr(staging, "CHUNK_ROWS", 10)
    database.engine.dispose()
    path = database.engine.url.database
    assert path
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    add_csv_row = BatchBuilder.add_csv_row

    def interrupted(builder: BatchBuilder, data: dict[str, str], where: Location) -> None:
        if builder.batch.rows == 15:
            # Ctrl-C once the reading waits for the first chunk, itself waiting for the lock.
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        add_csv_row(builder, data, where)

    monkeypatch.setattr(BatchBuilder, "add_csv_row", interrupted)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            import_file(
                database, workspace_id, _csv(tmp_path, "u.csv", [_line(a, 0, 1) for a in range(40)])
            )
        assert time.monotonic() - started < 4.0
    finally:
        other.execute("ROLLBACK")
        other.close()
    for thread in _import_threads():
        thread.join(timeout=10)
    assert not _import_threads()
    assert _state(database, workspace_id) == []
    _no_staging_left(database)
