"""The PostgreSQL schema the tests share, one at a time (tests/schema_template.py): the
next test finds no rows and sequences that start again, and never a schema a test changed."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from halosync.store.database import Database
from halosync.store.search import TRIGRAM_INDEX
from halosync.store.workspaces import WorkspaceRepository
from tests.schema_template import ReusedPostgresSchema


def _workspace_ids(url: str, *names: str) -> list[int]:
    database = Database(url)
    try:
        database.migrate()
        with database.session() as session:
            return [WorkspaceRepository(session).create(name).id for name in names]
    finally:
        database.dispose()


def _count(url: str, sql: str) -> int:
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        database.dispose()


@pytest.mark.postgres
def test_the_next_test_gets_it_empty_or_newly_migrated(postgres_url: str) -> None:
    reused = ReusedPostgresSchema(postgres_url)
    try:
        first = reused.url()
        assert _workspace_ids(first, "acme", "other") == [1, 2]
        reused.reset()
        # The same schema, emptied: ids start again, the revision is kept.
        assert reused.url() == first
        assert _count(first, "SELECT count(*) FROM workspace") == 0
        assert _workspace_ids(first, "again") == [1]
        reused.reset()

        # A test that changes the schema's shape: the next one gets another schema, whole.
        database = Database(first)
        with database.engine.begin() as connection:
            connection.execute(text(f"DROP INDEX {TRIGRAM_INDEX}"))
        database.dispose()
        reused.reset()
        second = reused.url()
        assert second != first
        indexed = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()"
        assert _count(second, f"{indexed} AND indexname = '{TRIGRAM_INDEX}'") == 1
        # The changed one is gone.
        schema = str(make_url(first).query["options"]).split()[0].removeprefix("-csearch_path=")
        assert not _count(
            postgres_url, f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'"
        )
    finally:
        reused.close()
