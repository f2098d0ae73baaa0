"""The search boxes' one rule: a case-insensitive substring, or a Halo id typed in full.

``%`` and ``_`` are LIKE wildcards; a reference such as ``50%_off`` must find itself and
nothing else, so they (and the escape character) are escaped in every search.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, String, or_, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from halosync.domain.numbers import parse_integer

_ESCAPE = "\\"
HALO_ID_MAX = 2**31 - 1

TRIGRAM_INDEX = "ix_account_search_trigrams"
"""PostgreSQL's GIN index of the trigrams of what the account grid's search reads
(migration 0022): a search seeks it instead of reading every account."""
CLIENT_TRIGRAM_INDEX = "ix_halo_client_name_trigrams"
"""The same of the Halo clients' names (migration 0027), for the mapping picker."""
TRIGRAM_INDEXES = (TRIGRAM_INDEX, CLIENT_TRIGRAM_INDEX)
TRIGRAM_INDEX_SQL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
    f" CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON account USING gin ("
    "lower(name) gin_trgm_ops, lower(ref) gin_trgm_ops,"
    " lower(mapped_client_name) gin_trgm_ops,"
    " lower(CAST(mapped_client_id AS VARCHAR)) gin_trgm_ops);"
    f" CREATE INDEX IF NOT EXISTS {CLIENT_TRIGRAM_INDEX} ON halo_client"
    " USING gin (lower(name) gin_trgm_ops);"
)
"""What a database owner runs when the migration could not create it (no pg_trgm)."""


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards and the escape character taken literally."""
    for special in (_ESCAPE, "%", "_"):
        text = text.replace(special, _ESCAPE + special)
    return text


class _folded(GenericFunction[str]):
    """``lower(column)``, except on SQLite, whose LIKE already ignores the case lower() folds.

    SQLite's LIKE and lower() both fold ASCII letters only, so ``column LIKE pattern``
    matches what ``lower(column) LIKE pattern`` does, without a function call per row
    (and it can read the column straight from a covering index).
    """

    type = String()
    inherit_cache = True
    name = "lower"
    # Registered under its own name: under "lower" it would replace func.lower everywhere,
    # and every lower() on SQLite would compile to its bare argument.
    identifier = "halosync_folded"


@compiles(_folded, "sqlite")
def _folded_on_sqlite(element: _folded, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


def contains(column: Any, term: str) -> ColumnElement[bool]:
    """``column`` contains ``term``, ignoring case (wildcards in ``term`` taken literally)."""
    pattern = f"%{like_escaped(term.lower())}%"
    return _folded(column).like(pattern, escape=_ESCAPE)


def name_or_halo_id(name: Any, halo_id: Any, term: str) -> ColumnElement[bool]:
    """A picker's search: the name contains ``term``, or ``term`` is the record's Halo id."""
    condition = contains(name, term)
    number = parse_integer(term, minimum=1, maximum=HALO_ID_MAX)
    return or_(condition, halo_id == number) if number is not None else condition


def has_trigram_index(connection: Connection) -> bool:
    """The account grid's search and the client picker have their trigram indexes
    (PostgreSQL; migrations 0022 and 0027 make them when pg_trgm can be installed)."""
    return all(
        connection.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None
        for name in TRIGRAM_INDEXES
    )
