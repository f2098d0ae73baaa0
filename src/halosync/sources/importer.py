"""Feeding usage into a workspace: validate everything first, then write in one transaction.

The one owner of the rule: the CLI import, the REST API's file upload and JSON upsert
(:func:`upsert_usage`, with its ``Idempotency-Key``), the demo and plug-in sources all end
in :func:`write_batch`.
"""

from __future__ import annotations

import hashlib
import io
import json
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, wait
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from halosync.errors import HalosyncError
from halosync.logging import get_logger
from halosync.sources.apply import ImportReport, UsageApplier
from halosync.sources.batch import BatchBuilder, HandOut
from halosync.sources.plugins import SourceRecord
from halosync.sources.readers import (
    BODY_HINT,
    Progress,
    read_document,
    read_file,
    read_json_stream,
)
from halosync.store import staging as staging_tables
from halosync.store.base import utcnow
from halosync.store.database import Database, DatabaseUnavailableError
from halosync.store.idempotency import IdempotencyRepository
from halosync.store.runs import make_up_for_write_lock

log = get_logger(__name__)
_T = TypeVar("_T")


class ConcurrentImportError(HalosyncError):
    """Another writer changed the same workspace's usage data at the same moment."""


class IdempotencyKeyReusedError(HalosyncError):
    """An ``Idempotency-Key`` sent again with a different request."""


class _Transaction:
    """An import's one transaction, worked in a thread of its own while the reading goes on.

    Validating is Python work; writing is mostly the database's (PostgreSQL's server
    process, SQLite's C code, neither holding the GIL). Each chunk the builder hands out
    is written here while the next is validated, so an import of 1,000,000 rows takes
    about the longer of the two instead of their sum. One chunk at most is waiting (the
    builder waits for the previous one before handing out the next), so memory holds two.
    The transaction commits only in :meth:`finish`, after the last row was validated:
    a problem anywhere still writes nothing.
    """

    def __init__(
        self, database: Database, workspace_id: int, *, snapshot: bool, allow_mass_cancel: bool
    ) -> None:
        self._database = database
        self._workspace_id = workspace_id
        self._snapshot = snapshot
        self._allow_mass_cancel = allow_mass_cancel
        self._thread: Executor = _WritingThread() if database.shared_by_processes else _InPlace()
        self._waiting: Future[None] | None = None
        # Touched in the writing thread only.
        self._session = ExitStack()
        self._applier: UsageApplier | None = None
        self._stalled = False
        # When the transaction began (on SQLite: took the write lock), while it is open.
        self._locked_at: datetime | None = None
        # Set by close(): whatever the writing thread still does, it must not commit.
        self._abandoned = threading.Event()

    # In the reading thread.

    def hand_out(self, out: HandOut) -> None:
        """Write ``out`` meanwhile; raises what writing the previous one raised."""
        self._wait()
        self._waiting = self._thread.submit(self._write, out)

    def finish(
        self, builder: BatchBuilder, also: Callable[[Session, ImportReport], None] | None
    ) -> ImportReport:
        """Write what is left, check the batch whole, commit; or roll back and raise."""
        self._wait()
        return self._thread.submit(self._finish, builder, also).result()

    def close(self, *, wait_for_it: bool = True) -> None:
        """Roll back whatever was not committed and end the thread (always called).

        Not ``wait_for_it`` (Ctrl-C): the rollback is left to the writing thread, after
        whatever it still does; a write waiting for the database's lock would keep the
        caller waiting until the busy timeout (30 s).
        """
        # The reading was given up (an error, Ctrl-C) while the writing thread may still be
        # finishing: it must roll back, not commit what the caller was told is not imported.
        self._abandoned.set()
        if not wait_for_it:
            self._thread.submit(self._roll_back)
            self._thread.shutdown(wait=False)
            return
        if self._waiting is not None:
            # Its error, if any, was raised already or makes no difference now.
            wait([self._waiting])
        self._thread.submit(self._roll_back).result()
        self._thread.shutdown()

    def _wait(self) -> None:
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.result()

    # In the writing thread.

    def _open(self) -> UsageApplier:
        if self._applier is None:
            session = self._session.enter_context(self._database.session())
            session.connection()  # begins: on SQLite, takes the write lock
            self._locked_at = utcnow()
            self._applier = UsageApplier(session, self._workspace_id, snapshot=self._snapshot)
        return self._applier

    def _write(self, out: HandOut) -> None:
        with self._database.translating():
            self._write_now(out)

    def _write_now(self, out: HandOut) -> None:
        applier = self._open()
        applier.write_accounts(out.accounts)
        applier.write_services(out.services)
        if self._stalled or not applier.resolves(out.subscriptions):
            # A subscription names an account or service given later (or nowhere): from
            # here on the subscriptions wait for the end, read back from the batch.
            self._stalled = True
            return
        applier.write_subscriptions(out.subscriptions)

    def _finish(
        self, builder: BatchBuilder, also: Callable[[Session, ImportReport], None] | None
    ) -> ImportReport:
        with self._database.translating():
            return self._finish_now(builder, also)

    def _finish_now(
        self, builder: BatchBuilder, also: Callable[[Session, ImportReport], None] | None
    ) -> ImportReport:
        if builder.took_back_handed_out:
            # Part of what was written was replaced later in the input: start again.
            self._roll_back()
            out = HandOut(
                list(builder.batch.accounts.items()), list(builder.batch.services.items()), []
            )
        else:
            out = builder.rest()
        applier = self._open()
        # The account and service refs known now: the workspace's and all written.
        builder.check_references(applier.account_ids, applier.service_ids)
        batch = builder.build()
        applier.write_accounts(out.accounts)
        applier.write_services(out.services)
        applier.write_subscriptions(batch.subscriptions.rows(applier.subscriptions_written))
        report = applier.finish(batch, allow_mass_cancel=self._allow_mass_cancel)
        if also is not None:
            also(applier.session, report)
        assert self._locked_at is not None
        make_up_for_write_lock(applier.session, self._locked_at)
        if self._abandoned.is_set():
            raise _RolledBack  # close() rolls back
        self._applier, self._locked_at = None, None
        self._session.close()  # commits
        return report

    def _roll_back(self) -> None:
        self._applier = None
        self._session.__exit__(_RolledBack, _RolledBack(), None)
        self._session = ExitStack()
        locked_at, self._locked_at = self._locked_at, None
        if locked_at is not None and self._database.dialect == "sqlite":
            # What the rolled-back transaction would have done on committing.
            try:
                with self._database.session() as session:
                    make_up_for_write_lock(session, locked_at)
            except DatabaseUnavailableError as error:
                log.warning("import_heartbeat_make_up_failed", error=error.message)


class _WritingThread(Executor):
    """An import's writing thread: its work in the order given. A daemon thread, so a
    process told to stop (Ctrl-C) is not held by a write still waiting for a lock: nothing
    it does commits once the import was abandoned, and the database rolls back the
    transaction of a connection that went away with the process."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="halosync-import", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()

        def work() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:
                    future.set_exception(error)

        self._work.put(work)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the thread after the work given (``cancel_futures`` is not supported)."""
        self._work.put(None)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            work()


class _InPlace(Executor):
    """Writes in the reading thread: an in-memory SQLite database is a connection per
    thread (another thread would find it empty), and too small to gain from a second."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


class _RolledBack(Exception):
    """Ends the import's transaction without committing it."""


def write_batch(
    database: Database,
    workspace_id: int,
    read: Callable[[BatchBuilder], None],
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    also: Callable[[Session, ImportReport], None] | None = None,
    paced_by_source: bool = False,
) -> ImportReport:
    """Validate what ``read`` feeds a builder and write it into the workspace, in one
    transaction; every problem is reported at once and a refused batch changes nothing.

    Chunks of validated subscriptions are written while the reading goes on (see
    :class:`_Transaction`), except on SQLite when the reading is ``paced_by_source`` (a
    plug-in fetching from its vendor): the transaction holds SQLite's one write lock from
    its first chunk to its end, and every other writer would wait for the vendor's pace;
    then everything is written after the last record, as fast as halosync goes. ``also``
    writes something more in the same transaction (the API's idempotency record).
    """
    transaction = _Transaction(
        database, workspace_id, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
    )
    stopped = False
    try:
        with BatchBuilder() as builder:
            if not (paced_by_source and database.dialect == "sqlite"):
                builder.hand_out_to(transaction.hand_out, staging_tables.CHUNK_ROWS)
            read(builder)
            report = transaction.finish(builder, also)
    except IntegrityError:
        raise ConcurrentImportError(
            "Another import changed this workspace's accounts, services or subscriptions at "
            "the same time; nothing from this import was written.",
            fix="Run the import (send the request) again.",
        ) from None
    except BaseException as error:
        # Ctrl-C (or the process exiting): stop now, without waiting for the writing thread.
        stopped = not isinstance(error, Exception)
        raise
    finally:
        transaction.close(wait_for_it=not stopped)
    log.info(
        "usage imported",
        workspace_id=workspace_id,
        rows=report.rows,
        accounts=asdict(report.accounts),
        services=asdict(report.services),
        subscriptions=asdict(report.subscriptions),
        cancelled=len(report.cancelled),
    )
    return report


def import_file(
    database: Database,
    workspace_id: int,
    path: Path,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a .csv or .json file; any bad row means nothing is written."""
    return write_batch(
        database,
        workspace_id,
        lambda builder: read_file(path, builder, progress=progress),
        snapshot=snapshot,
        allow_mass_cancel=allow_mass_cancel,
    )


def import_document(
    database: Database,
    workspace_id: int,
    document: object,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Import an already-parsed JSON document (the demo's sample data, tests)."""
    return write_batch(
        database,
        workspace_id,
        lambda builder: read_document(document, builder),
        snapshot=snapshot,
        allow_mass_cancel=allow_mass_cancel,
    )


def import_records(
    database: Database,
    workspace_id: int,
    records: Iterable[SourceRecord],
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Import what a plug-in source yields, with the same validation as a file (its
    records come at its vendor's pace)."""

    def read(builder: BatchBuilder) -> None:
        for record in records:
            builder.add_record(record.kind, record.data, record.location)

    return write_batch(
        database,
        workspace_id,
        read,
        snapshot=snapshot,
        allow_mass_cancel=allow_mass_cancel,
        paced_by_source=True,
    )


@dataclass(frozen=True)
class UpsertOutcome:
    """What a usage upsert answered: the import report as a document, and whether it is the
    answer stored under the same ``Idempotency-Key`` (nothing applied again)."""

    report: dict[str, Any]
    replayed: bool = False


def _request_hash(body: bytes, snapshot: bool, allow_mass_cancel: bool) -> str:
    digest = hashlib.sha256(json.dumps([snapshot, allow_mass_cancel]).encode("ascii"))
    digest.update(b"\n" + body)
    return digest.hexdigest()


def _replay(
    database: Database, workspace_id: int, key: str, request_hash: str
) -> UpsertOutcome | None:
    with database.session() as session:
        record = IdempotencyRepository(session, workspace_id).get(key)
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {key!r} was already used with a different request body.",
                fix="Use a new key for a new request.",
            )
        return UpsertOutcome(dict(record.response), replayed=True)


def upsert_usage(
    database: Database,
    workspace_id: int,
    body: bytes,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    idempotency_key: str | None = None,
) -> UpsertOutcome:
    """Import a JSON usage document sent as bytes (the REST API's bulk upsert).

    The body is read exactly like a JSON file (streamed, depth-limited, errors by line and
    column or JSON path) and written by :func:`write_batch`. With an ``idempotency_key`` the
    answer is stored in the same transaction; the same key and request again get that
    answer back and change nothing, the same key with another request is refused.
    """
    request_hash = _request_hash(body, snapshot, allow_mass_cancel)
    key = idempotency_key
    if key is not None and (replayed := _replay(database, workspace_id, key, request_hash)):
        return replayed

    def remember(session: Session, report: ImportReport) -> None:
        if key is not None:
            IdempotencyRepository(session, workspace_id).save(
                key, request_hash, 200, report.as_dict()
            )

    try:
        report = write_batch(
            database,
            workspace_id,
            lambda builder: read_json_stream(io.BytesIO(body), builder, hint=BODY_HINT),
            snapshot=snapshot,
            allow_mass_cancel=allow_mass_cancel,
            also=remember,
        )
    except ConcurrentImportError:
        # Lost a race: the same key stored by a concurrent request, or another import.
        if key is not None and (replayed := _replay(database, workspace_id, key, request_hash)):
            return replayed
        raise
    return UpsertOutcome(report.as_dict())
