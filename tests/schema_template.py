"""Test databases at the newest schema, copied or reused instead of migrated.

Alembic from empty (every migration, one after the other) costs about 0.1 s of CPU per
SQLite database, as much as many a small test itself. :func:`migrated` copies a SQLite
database that this process migrated once, then runs ``migrate()`` on the copy (one query:
the copy is at the head). Existing files are migrated as they are.

On PostgreSQL the same migrations cost seconds of the server's time per schema on a busy
machine (DDL, commits waiting for the disk). :class:`ReusedPostgresSchema` migrates one
schema per test process and empties it after each test instead (its rows deleted, its
sequences restarted); a test that changes the schema's shape gets it dropped, and the next
test a newly migrated one. The migrations themselves are run from empty, undone and checked
against the models in ``tests/store/test_migrations.py`` (on a fresh schema of their own),
as the web UI's tests copy a built world (``tests/web/ui/world.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import sqlite3
import tempfile
import uuid
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from halosync.database_url import sqlite_file
from halosync.store.database import Database


@functools.cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="halosync-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.migrate()
    finally:
        database.dispose()
    # Everything in the main file (WAL mode is kept in it), so that copying it copies all.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    return path


def migrated(database: Database) -> Database:
    """``database`` at the newest schema; a SQLite file not created yet starts as a copy."""
    if database.dialect == "sqlite":
        target = sqlite_file(database.url)
        # Database() makes the file empty and owner-only before SQLite opens it (so it
        # is never 0644): empty is "not created yet" too. (Taken for existing, every
        # test migrated its database from nothing: the fast tier took twice as long.)
        if target is not None and (not target.exists() or target.stat().st_size == 0):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_template(), target)
    database.migrate()
    return database


def schema_url(server_url: str, schema: str) -> str:
    """``server_url`` with ``schema`` as the default schema of every connection. Commits
    do not wait for the disk (``synchronous_commit=off``): a test database need not outlive
    a crash of the server."""
    parsed = make_url(server_url)
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    url = parsed.set(query={**parsed.query, "options": options})
    return url.render_as_string(hide_password=False)


def create_schema(admin: Engine) -> str:
    """A new empty schema, named so that no other test process uses it."""
    _trigrams_in_public(admin)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema


def drop_schema(admin: Engine, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _trigrams_in_public(admin: Engine) -> None:
    """pg_trgm in the public schema, before any test's migration creates it: created by
    a migration it would land in that test's schema, and dropping the schema would take
    every other schema's trigram index with it."""
    try:
        with admin.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except DBAPIError:  # another test created it at the same moment
        pass


# The schema's shape: its relations, columns (with defaults), indexes, constraints,
# triggers and functions, as one digest. A test that changes any of them (drops an index,
# downgrades) leaves a schema that the next test must not get.
_SHAPE = """
SELECT md5(coalesce(string_agg(item, ' | ' ORDER BY item), '')) FROM (
  SELECT 'relation ' || c.relname || ' ' || c.relkind::text AS item
    FROM pg_class c WHERE c.relnamespace = to_regnamespace(:schema)
  UNION ALL
  SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = to_regnamespace(:schema) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE c.relnamespace = to_regnamespace(:schema)
  UNION ALL
  SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = to_regnamespace(:schema)
  UNION ALL
  SELECT 'trigger ' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = to_regnamespace(:schema)
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure::text
    FROM pg_proc p WHERE p.pronamespace = to_regnamespace(:schema)
) AS shape
"""

_FOREIGN_KEYS = """
SELECT child.relname, parent.relname FROM pg_constraint f
  JOIN pg_class child ON child.oid = f.conrelid JOIN pg_class parent ON parent.oid = f.confrelid
 WHERE f.contype = 'f' AND f.connamespace = to_regnamespace(:schema)
"""


def _shape(connection: Connection, schema: str) -> str:
    """A digest of the schema's shape and of the revision it is stamped with."""
    digest = str(connection.execute(text(_SHAPE), {"schema": schema}).scalar_one())
    stamp = f'"{schema}".alembic_version'
    if connection.execute(text("SELECT to_regclass(:stamp)"), {"stamp": stamp}).scalar():
        revisions = connection.execute(text(f"SELECT version_num FROM {stamp}")).scalars()
        digest += " at " + ",".join(sorted(revisions))
    return digest


def _emptying(connection: Connection, schema: str) -> str:
    """The statements that delete every row but the revision's, a table's referrers
    before it (a cycle of tables, which no migration makes today, is one TRUNCATE)."""
    tables = connection.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
    ).scalars()
    referrers: dict[str, set[str]] = {t: set() for t in tables if t != "alembic_version"}
    for child, parent in connection.execute(text(_FOREIGN_KEYS), {"schema": schema}):
        if child != parent and parent in referrers:
            referrers[parent].add(child)
    try:
        names = list(TopologicalSorter(referrers).static_order())
    except CycleError:
        listed = ", ".join(f'"{schema}"."{name}"' for name in referrers)
        return f"TRUNCATE {listed} CASCADE"
    return "; ".join(f'DELETE FROM "{schema}"."{name}"' for name in names)


class ReusedPostgresSchema:
    """This test process's PostgreSQL schema at the newest revision, for one test at a time."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._admin: Engine | None = None
        self._schema: str | None = None
        self._shape = ""
        self._emptying = ""

    def url(self) -> str:
        """The schema's URL; migrated now if no test has had it yet."""
        if self._admin is None:
            self._admin = create_engine(self._server_url, pool_size=1)
        if self._schema is None:
            schema = create_schema(self._admin)
            try:
                database = Database(schema_url(self._server_url, schema))
                try:
                    database.migrate()
                finally:
                    database.dispose()
                with self._admin.connect() as connection:
                    self._shape = _shape(connection, schema)
                    self._emptying = _emptying(connection, schema)
            except BaseException:
                drop_schema(self._admin, schema)
                raise
            self._schema = schema
        return schema_url(self._server_url, self._schema)

    def reset(self) -> None:
        """Empty the schema for the next test, or drop it when the test changed its shape."""
        if self._admin is None or self._schema is None:
            return
        schema = self._schema
        try:
            with self._admin.begin() as connection:
                if _shape(connection, schema) == self._shape:
                    used = connection.execute(
                        text(
                            "SELECT sequencename FROM pg_sequences"
                            " WHERE schemaname = :schema AND last_value IS NOT NULL"
                        ),
                        {"schema": schema},
                    ).scalars()
                    restarts = "".join(f'; ALTER SEQUENCE "{schema}"."{s}" RESTART' for s in used)
                    connection.exec_driver_sql(self._emptying + restarts)
                    return
        except DBAPIError:  # e.g. a table the test dropped: the schema is not reusable
            pass
        self._schema = None
        drop_schema(self._admin, schema)

    def close(self) -> None:
        """Drop the schema and close the connection (at the end of the session)."""
        if self._admin is not None:
            if self._schema is not None:
                drop_schema(self._admin, self._schema)
            self._admin.dispose()
        self._admin, self._schema = None, None
