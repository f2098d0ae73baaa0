"""halosync's Alembic migrations (``versions/``), and the newest of them known without Alembic.

``SCHEMA_HEAD`` lets every start-up see that the schema is current with one query and
without importing Alembic (``Database.migrate``). A new migration updates it;
``tests/store/test_migrations.py`` fails until it names Alembic's head.
"""

from __future__ import annotations

from halosync.store.search import TRIGRAM_INDEXES

SCHEMA_HEAD = "0031"
"""The revision of the newest migration in ``versions/``."""

OUTSIDE_MODELS = frozenset(TRIGRAM_INDEXES)
"""Schema objects a migration makes that the models do not describe: PostgreSQL's trigram
indexes of the account search and the client picker (0022, 0027), there only when pg_trgm
could be installed."""


def include_object(
    _object: object, name: str | None, _type: str, _reflected: bool, _compare_to: object
) -> bool:
    """Alembic's filter for comparing the schema with the models: leave out
    :data:`OUTSIDE_MODELS` (autogenerate would otherwise drop them)."""
    return name not in OUTSIDE_MODELS
