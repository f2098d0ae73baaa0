"""The search boxes' SQL: SQLite's case-insensitive LIKE without lower(), and lower()
itself left alone everywhere else."""

from __future__ import annotations

from sqlalchemy import column, func
from sqlalchemy.dialects import postgresql, sqlite

from halosync.store.search import contains


def test_the_search_folds_case_only_where_like_does_not() -> None:
    assert str(contains(column("name"), "Acme").compile(dialect=sqlite.dialect())) == (
        "name LIKE ? ESCAPE '\\'"
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    on_postgresql = str(contains(column("name"), "Acme").compile(dialect=dialect))
    assert on_postgresql.startswith("lower(name) LIKE")


def test_lower_stays_lower_on_sqlite() -> None:
    # The search's function once took over func.lower: every lower() on SQLite compiled to
    # its bare argument, so a term or a status in another case was a different one.
    assert str(func.lower(column("term")).compile(dialect=sqlite.dialect())) == "lower(term)"
