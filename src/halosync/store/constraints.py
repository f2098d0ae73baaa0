"""Which unique index or constraint an ``IntegrityError`` broke, on SQLite and PostgreSQL.

A refusal means something only when it is the constraint the caller relies on ("one
active run per workspace", "one run per schedule slot"); any other integrity error (a
foreign key to a deleted row, a check) is a different problem and must surface as such.
"""

from __future__ import annotations

import re

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from halosync.store.base import METADATA

# SQLite names the columns, not the index: "UNIQUE constraint failed: sync_run.workspace_id".
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w.]+(?:, [\w.]+)*)")


def violated_unique(error: IntegrityError) -> str | None:
    """The name of the unique index or constraint ``error`` broke; None for anything else."""
    cause = error.orig
    diag = getattr(cause, "diag", None)
    if diag is not None:  # psycopg: PostgreSQL reports the index or constraint by name
        if getattr(cause, "sqlstate", None) != "23505":  # unique_violation
            return None
        name = getattr(diag, "constraint_name", None)
        return name if isinstance(name, str) else None
    found = _SQLITE_UNIQUE.search(str(cause))
    if found is None:
        return None
    qualified = [part.split(".", 1) for part in found.group("columns").split(", ")]
    tables = {table for table, _ in qualified}
    if len(tables) != 1:
        return None
    return _unique_on(tables.pop(), tuple(column for _, column in qualified))


def _unique_on(table_name: str, columns: tuple[str, ...]) -> str | None:
    table = METADATA.tables.get(table_name)
    if table is None:
        return None
    candidates: list[Index | UniqueConstraint] = [ix for ix in table.indexes if ix.unique]
    candidates += [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    for candidate in candidates:
        if tuple(column.name for column in candidate.columns) == columns:
            name = candidate.name
            return str(name) if name is not None else None
    return None
