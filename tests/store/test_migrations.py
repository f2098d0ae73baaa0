"""Every migration, applied from empty, yields exactly the models; and they all undo."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from halosync.store.base import Base
from halosync.store.database import Database


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def _upgrade_downgrade_roundtrip(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
        assert _diff(db) == []
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        db.downgrade("base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.migrate()
        assert _diff(db) == []
    finally:
        db.dispose()


def test_migrations_match_models_on_sqlite(sqlite_url: str) -> None:
    _upgrade_downgrade_roundtrip(sqlite_url)


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql(pg_schema_url: str) -> None:
    _upgrade_downgrade_roundtrip(pg_schema_url)


def test_migrate_is_cheap_when_up_to_date(sqlite_url: str) -> None:
    first = Database(sqlite_url)
    first.migrate()
    first.dispose()
    second = Database(sqlite_url)
    statements: list[str] = []

    from sqlalchemy import event

    event.listen(
        second.engine,
        "before_cursor_execute",
        lambda *args: statements.append(str(args[2])),
    )
    second.migrate()
    second.migrate()
    second.dispose()
    assert not any(s.lstrip().upper().startswith(("CREATE", "ALTER")) for s in statements)
    assert len(statements) <= 3
