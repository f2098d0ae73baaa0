"""The database handle: engine, one-transaction sessions and schema migrations."""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from halosync.database_url import sqlite_creates_file, sqlite_file
from halosync.errors import HalosyncError
from halosync.files import (
    FolderMissingError,
    create_private_file,
    explained,
    sqlite_access_problem,
)
from halosync.files import refuse_missing_folder as refuse_folder
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.migrations import SCHEMA_HEAD

if TYPE_CHECKING:
    # Alembic is imported where it is used: a start-up whose schema is current (the
    # usual case) checks it without loading Alembic at all. The ORM is imported with the
    # first session: a command that reads with Core (``halosync logs``) never loads it.
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same in every halosync process.
_PG_MIGRATION_LOCK = 0x48414C4F
WRITE_LOCK_WAIT_MS = 30_000
"""How long a write waits for another's lock before it gives up (the 503 'try again'):
SQLite's busy timeout; on PostgreSQL the lock timeout of work that takes turns by a lock
of its own (imports into one workspace)."""

log = get_logger(__name__)
T = TypeVar("T")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for halosync's migrations (no ``alembic.ini`` needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def _migration_script() -> ScriptDirectory:
    # Parsing the migration files takes a while; they do not change under a running process.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every migration revision this version of halosync ships."""
    return frozenset(script.revision for script in _migration_script().walk_revisions())


def head_revision() -> str:
    """The newest migration revision this version of halosync ships."""
    head = _migration_script().get_current_head()
    assert head is not None, "halosync ships at least one migration"
    return head


@dataclass(frozen=True)
class SchemaState:
    """Where the database's schema stands against the migrations this code ships."""

    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        """The schema is exactly the one this code expects."""
        return self.current == self.head

    @property
    def is_newer(self) -> bool:
        """A newer halosync migrated the schema past every revision this code knows."""
        return self.current is not None and self.current not in known_revisions()

    def problem(self) -> str | None:
        """Why this code cannot use the schema as it is, or None when it can."""
        if self.is_current:
            return None
        if self.current is None:
            return "The database has no halosync schema yet."
        if self.is_newer:
            return (
                f"The database schema is at revision {self.current}, which this version of "
                "halosync does not know (a newer halosync migrated it)."
            )
        return (
            f"The database schema is at revision {self.current}; this version of halosync "
            f"needs {self.head}."
        )

    def fix(self) -> str:
        """What the operator should do about :meth:`problem`."""
        if self.is_newer:
            return "Run the newer halosync that migrated it, or restore a backup made by this one."
        return "Run `halosync db upgrade` (with the new code installed, before starting it)."


class SchemaNotCurrentError(HalosyncError):
    """The schema differs from this code's and migrating on start is switched off."""


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN; SQLAlchemy emits it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={WRITE_LOCK_WAIT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The execution option that marks the engine of :meth:`Database.reading`'s sessions.
_READ_ONLY = "halosync_read_only"


def _begin_sqlite(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so two writers wait (busy_timeout) instead
    # of failing with "database is locked" when a reader upgrades to a writer. A read-only
    # transaction never upgrades: a plain (deferred) BEGIN reads the last committed state
    # in WAL mode without queueing behind a writer, and query_only makes a write in it fail.
    read_only = bool(connection.get_execution_options().get(_READ_ONLY))
    pooled = connection.connection.info
    if pooled.get(_READ_ONLY, False) != read_only:
        connection.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
        pooled[_READ_ONLY] = read_only
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class WriteWhileReadingError(RuntimeError):
    """A bug: work inside :meth:`Database.reading` tried to write (use ``session()``)."""


class DatabaseUnavailableError(HalosyncError):
    """The database connection failed mid-transaction (dropped, restarted, busy too long).

    The transaction was rolled back, so nothing of it was written; the message carries the
    driver's first line only (never the SQL or its parameters).
    """

    retry_after = 10
    """Seconds a caller (the API's Retry-After, the UI's page) waits before trying again."""


def first_error_line(error: BaseException) -> str:
    """The driver's first line of ``error`` (never the SQL or its parameters)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return text[0][:200] if text else type(cause).__name__


# PostgreSQL's SQLSTATEs of a lock wait that timed out, a full disk, and two transactions
# each waiting for the other (or a serialisation failure): none of them a lost connection.
_PG_LOCK_TIMEOUT = "55P03"
_PG_DISK_FULL = "53100"
_PG_WRITE_CONFLICT = ("40P01", "40001")
_SQLITE_FULL = 13


def _unavailable(
    error: OperationalError | InterfaceError, dialect: str, url: str
) -> DatabaseUnavailableError:
    reason = first_error_line(error)
    sqlstate = getattr(error.orig, "sqlstate", None)
    file_problem = _file_problem(url, error) if dialect == "sqlite" else None
    if file_problem is not None:
        return file_problem
    if (dialect == "sqlite" and "locked" in reason.lower()) or sqlstate == _PG_LOCK_TIMEOUT:
        return DatabaseUnavailableError(
            f"The database stayed locked by another halosync process for more than "
            f"{WRITE_LOCK_WAIT_MS / 1000:g} s ({reason}); nothing of this step was saved.",
            fix="Try again when the other work has finished; for many concurrent users and "
            "workers use PostgreSQL (HALOSYNC_DATABASE_URL=postgresql+psycopg://...).",
        )
    if getattr(error.orig, "sqlite_errorcode", None) == _SQLITE_FULL or sqlstate == _PG_DISK_FULL:
        return DatabaseUnavailableError(
            f"The database's disk is full ({reason}); nothing of this step was saved.",
            fix="Free space on the disk that holds the database (for SQLite, the folder of "
            "its file; for PostgreSQL, the server's data directory), then try again.",
        )
    if sqlstate in _PG_WRITE_CONFLICT:
        return DatabaseUnavailableError(
            f"Another halosync process changed the same records at the same moment "
            f"({reason}); nothing of this step was saved.",
            fix="Try again.",
        )
    return DatabaseUnavailableError(
        f"Lost the connection to the database ({reason}); nothing of this step was saved.",
        fix="Check that the database server is running and reachable, then try again; a "
        "sync picks up where it stopped.",
    )


def _pool_exhausted(error: PoolTimeoutError) -> DatabaseUnavailableError:
    # SQLAlchemy's words say how many and how long ("QueuePool limit of size 5 overflow 10
    # reached, connection timed out, timeout 30.00"), then a link to its docs: left out.
    reason = str(error.args[0]) if error.args else first_error_line(error)
    return DatabaseUnavailableError(
        f"Every database connection of this halosync process stayed busy ({reason}); "
        "nothing of this step was saved.",
        fix="Try again in a moment: other requests and syncs hold them. If it happens often, "
        "run more halosync processes (each has its own connections) or fewer workers each.",
    )


class DatabaseUnreachableError(DatabaseUnavailableError):
    """No connection to the database could be made (refused, unknown role or database, a
    SQLite file that cannot be opened): raised by every command, and said by the doctor."""


# SQLite's result codes of a file this user may not write, or open at all.
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14


def sqlite_file_problem(path: Path) -> DatabaseUnreachableError | None:
    """Why this user cannot use the SQLite database ``path``, which SQLite says only as
    "unable to open database file" or "attempt to write a readonly database"; or None."""
    problem = sqlite_access_problem(path, "the SQLite database")
    if problem is None:
        return None
    message, fix = problem
    return DatabaseUnreachableError(message, fix=fix)


def _file_problem(url: str, error: BaseException) -> DatabaseUnreachableError | None:
    path = sqlite_file(url)
    code = getattr(getattr(error, "orig", error), "sqlite_errorcode", None)
    if path is None or code not in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
        return None
    return sqlite_file_problem(path)


_SERVER_UP = "that the database server is running and accepts this host."


def _unreachable(url: str, error: BaseException) -> DatabaseUnreachableError:
    where = make_url(url).render_as_string(hide_password=True)
    return DatabaseUnreachableError(
        f"Cannot reach the database at {where}: {first_error_line(error)}.",
        fix=f"Check HALOSYNC_DATABASE_URL (or --database-url) and {_SERVER_UP}",
        fixes={
            "api": f"Check HALOSYNC_DATABASE_URL and {_SERVER_UP}",
            "ui": f"Check HALOSYNC_DATABASE_URL and {_SERVER_UP}",
        },
    )


class DatabaseFolderMissingError(FolderMissingError):
    """An explicit SQLite URL names a folder that does not exist."""


def refuse_missing_folder(path: Path) -> None:
    """Refuse a SQLite file whose folder is missing, instead of creating the folder (the
    default data directory is made before its URL is built, by ``Settings.ensure_data_dir``)."""
    folder = path.absolute().parent
    refuse_folder(
        folder,
        f"There is no folder {folder} for the SQLite database {path.name} named by "
        "HALOSYNC_DATABASE_URL.",
        setting="HALOSYNC_DATABASE_URL",
        option="--database-url",
        error=DatabaseFolderMissingError,
    )


class Database:
    """halosync's database: SQLite (default, WAL) or PostgreSQL through psycopg 3."""

    def __init__(self, url: str, *, echo: bool = False, auto_migrate: bool = True) -> None:
        self.url = url
        self.auto_migrate = auto_migrate
        self.created = False
        """This handle made the SQLite file (empty, owner-only): its first use."""
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            path = sqlite_file(url)
            if path is not None and sqlite_creates_file(url):
                refuse_missing_folder(path)
                # SQLite would create it 0644; its -wal and -shm copy the database's mode.
                with explained(path, "the SQLite database"):
                    self.created = create_private_file(path)
            self.engine: Engine = create_engine(url, echo=echo)
            event.listen(self.engine, "connect", _configure_sqlite)
            event.listen(self.engine, "begin", _begin_sqlite)
        elif self.dialect == "postgresql":
            if parsed.get_driver_name() != "psycopg":
                raise HalosyncError(
                    f"Unsupported PostgreSQL driver {parsed.get_driver_name()!r}.",
                    fix="Use a postgresql+psycopg:// URL (psycopg 3).",
                )
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True)
        else:
            raise HalosyncError(
                f"Unsupported database {self.dialect!r}.",
                fix="Use a sqlite:/// file URL or a postgresql+psycopg:// URL.",
            )
        event.listen(self.engine, "handle_error", self._connect_failed)
        self._read_engine = self.engine.execution_options(**{_READ_ONLY: True})
        self._migrated = False
        self._migrate_lock = threading.Lock()
        # A Database dropped without dispose() still closes its pooled connections, instead
        # of leaving them to the garbage collector (Python 3.13 warns about each one).
        weakref.finalize(self, self.engine.dispose)

    @property
    def shared_by_processes(self) -> bool:
        """Whether another process opening :attr:`url` sees this database (an in-memory
        SQLite database is this process's alone)."""
        return self.dialect != "sqlite" or sqlite_file(self.url) is not None

    def _connect_failed(self, context: ExceptionContext) -> None:
        # No connection at all (not one lost mid-work): every caller says it the same way.
        if context.connection is None and not context.is_pre_ping:
            original = context.original_exception
            if isinstance(original, Exception) and not isinstance(original, HalosyncError):
                problem = _file_problem(self.url, original) if self.dialect == "sqlite" else None
                raise (problem or _unreachable(self.url, original)) from original

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database the settings name (a SQLite file in the data dir by default)."""
        return cls(settings.resolved_database_url, auto_migrate=settings.auto_migrate)

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @functools.cached_property
    def _sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    @functools.cached_property
    def _read_sessions(self) -> sessionmaker[Session]:
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self._read_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block succeeds, rolled back when it raises.

        A lost connection or a lock that never came raises :class:`DatabaseUnavailableError`
        (a clear message, no SQL) instead of the driver's error.
        """
        with self.translating(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def translating(self) -> Iterator[None]:
        """A lost connection, a lock that never came or a pool with every connection taken,
        raised inside, as :class:`DatabaseUnavailableError`: :meth:`session` 's rule, for
        work on a session held open across calls (entered by an ``ExitStack``), whose
        errors never pass through the ``with``."""
        try:
            yield
        except (OperationalError, InterfaceError) as error:
            raise _unavailable(error, self.dialect, self.url) from error
        except PoolTimeoutError as error:
            raise _pool_exhausted(error) from error

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction, for work that only reads (a page load, a list).

        On SQLite it does not take the write lock, so it never waits for a writer (an
        import's transaction can hold the lock for seconds): it reads the state committed
        when it began. A write in it fails, on SQLite (query_only) as on PostgreSQL.
        """
        with self._read_errors(), self._read_sessions() as session, session.begin():
            if self.dialect == "postgresql":
                session.execute(text("SET TRANSACTION READ ONLY"))
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """:meth:`reading`'s read-only transaction on a Core connection, for a read that
        needs no ORM model (``halosync logs``: no ORM is loaded at all)."""
        with self._read_errors(), self._read_engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SET TRANSACTION READ ONLY"))
            yield connection

    @contextmanager
    def _read_errors(self) -> Iterator[None]:
        """A read-only transaction's errors as :meth:`reading` promises them."""
        try:
            yield
        except PoolTimeoutError as error:
            raise _pool_exhausted(error) from error
        except DBAPIError as error:
            reason = first_error_line(error)
            if "readonly" in reason.lower() or "read-only" in reason.lower():
                raise WriteWhileReadingError(
                    f"A write inside Database.reading() was refused ({reason})."
                ) from error
            if isinstance(error, OperationalError | InterfaceError):
                raise _unavailable(error, self.dialect, self.url) from error
            raise

    def retrying(
        self, work: Callable[[Session], T], *, attempts: int = 5, wait_seconds: float = 0.5
    ) -> T:
        """Run ``work`` in one transaction, again on a fresh connection if the first is lost.

        For short bookkeeping that must land even after a connection drop (closing a run so
        it stops holding the workspace lock); ``work`` must be safe to repeat, which holds
        because a failed transaction left nothing behind.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as session:
                    return work(session)
            except DatabaseUnavailableError as error:
                if attempt == attempts:
                    raise
                log.warning("database_retry", attempt=attempt, error=error.message)
                time.sleep(wait_seconds)
        raise AssertionError("unreachable: attempts >= 1")

    def schema_state(self) -> SchemaState:
        """The schema's revision against this code's newest; changes nothing."""
        from alembic.runtime.migration import MigrationContext

        # Alembic narrates every step at INFO; one line of our own says enough.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # Read-only: on SQLite it never waits for a writer (an import holds the write lock
        # as long as it takes), and every command checks the schema first.
        with self._read_engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            connection.rollback()
        return SchemaState(current=current, head=head_revision())

    def stored_revision(self) -> str | None:
        """The revision stamped in the database, read without Alembic; None when there is
        none, or more than one, or it cannot be read (Alembic then says why)."""
        try:
            with self._read_engine.connect() as connection:  # see schema_state
                rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
                connection.rollback()
        except DBAPIError:
            return None
        return str(rows[0][0]) if len(rows) == 1 else None

    def migrate(self) -> None:
        """Bring the schema to the newest migration; cheap when it already is.

        A schema stamped with the head this code was built with (``SCHEMA_HEAD``) is
        current, learnt by one query and without loading Alembic; anything else goes
        through Alembic. With ``auto_migrate`` off (``HALOSYNC_AUTO_MIGRATE=false``) a
        schema that is not current is refused instead: the operator runs ``halosync db
        upgrade`` first.
        """
        with self._migrate_lock:
            if self._migrated:
                return
            if self.stored_revision() == SCHEMA_HEAD:
                self._migrated = True
                return
            state = self.schema_state()
            if not state.is_current:
                if not self.auto_migrate:
                    raise SchemaNotCurrentError(state.problem() or "", fix=state.fix())
                self._upgrade()
            self._migrated = True

    def upgrade(self) -> SchemaState:
        """Migrate to the newest schema whatever ``auto_migrate`` says (``halosync db upgrade``)."""
        with self._migrate_lock:
            before = self.schema_state()
            if before.is_newer:
                raise SchemaNotCurrentError(before.problem() or "", fix=before.fix())
            if not before.is_current:
                self._upgrade()
            self._migrated = True
            return before

    def _upgrade(self) -> None:
        from alembic import command

        log.info("migrating database", database=repr(self))
        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                # Serialises processes that start at once on a fresh database.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(connection), "head")

    def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to ``revision`` (tests and operators rolling back)."""
        from alembic import command

        with self.engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
        self._migrated = False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
