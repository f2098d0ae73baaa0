"""The layer rule of ``docs/architecture.md``, kept true by reading the source.

**Outside ``store/``, no module issues SQL; the CLI, the API and the UI import services,
not repositories.**

"Issues SQL" means building a statement with SQLAlchemy (anything imported from it but
the ``Session`` type, its exceptions and URL parsing) or running one (``execute``,
``scalar``, ``scalars``, ``query``, ``exec_driver_sql`` on a session or connection).
The entry points (``cli/``, ``web/``) may import from ``store/`` only the connection
handle (``store.database``), the key box (``store.crypto``) and the clock
(``store.base``): never a repository, a model or a query helper.

The lists of modules that do not follow the rule yet are empty (issue 12, item 3 done)
and only shrink: a new violation fails, and so would an entry no longer needed.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "halosync"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# The simulator is the bundled stand-in for HaloPSA, not halosync; migrations are history.
OUTSIDE_THE_RULE = ("store/", "simulator/")
ENTRY_POINTS = ("cli/", "web/")
SQLALCHEMY_ALLOWED = {
    "sqlalchemy.orm": {"Session"},
    "sqlalchemy.exc": None,  # any exception type
    "sqlalchemy.engine": {"make_url", "URL"},
}
RUNS_SQL = {"execute", "scalar", "scalars", "query", "exec_driver_sql"}
STORE_FOR_ENTRY_POINTS = {"halosync.store.database", "halosync.store.crypto", "halosync.store.base"}

# Not true yet: module -> where its SQL should go (none left).
SQL_NOT_YET_IN_STORE: dict[str, str] = {}
# Not true yet: entry point -> the service it should call instead.
ENTRY_POINTS_NOT_YET_ON_SERVICES: dict[str, str] = {}


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SOURCE).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SOURCE.rglob("*.py"))
    ]


@functools.cache
def _parsed() -> tuple[tuple[str, ast.Module], ...]:
    return tuple(_modules())


def _sql_in(tree: ast.Module) -> list[str]:
    """What in ``tree`` builds or runs SQL."""
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (node.module == "sqlalchemy" or node.module.startswith("sqlalchemy."))
        ):
            allowed = SQLALCHEMY_ALLOWED.get(node.module, set())
            for alias in node.names:
                if allowed is not None and alias.name not in allowed:
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy.")
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS_SQL
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "self")
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


def _store_imports_in(tree: ast.Module) -> list[str]:
    """What ``tree`` imports from ``store/`` beyond the connection handle, keys and clock."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == "halosync.store":
                found += [f"line {node.lineno}: halosync.store.{a.name}" for a in node.names]
            elif module.startswith("halosync.store.") and module not in STORE_FOR_ENTRY_POINTS:
                names = ", ".join(alias.name for alias in node.names)
                found.append(f"line {node.lineno}: from {module} import {names}")
    return found


def _sql_violations() -> dict[str, list[str]]:
    return {
        name: found
        for name, tree in _parsed()
        if not name.startswith(OUTSIDE_THE_RULE) and (found := _sql_in(tree))
    }


def _entry_point_violations() -> dict[str, list[str]]:
    return {
        name: found
        for name, tree in _parsed()
        if name.startswith(ENTRY_POINTS) and (found := _store_imports_in(tree))
    }


@pytest.mark.parametrize(
    ("violations", "known"),
    [
        pytest.param(_sql_violations, SQL_NOT_YET_IN_STORE, id="no-sql-outside-store"),
        pytest.param(
            _entry_point_violations, ENTRY_POINTS_NOT_YET_ON_SERVICES, id="entry-points-services"
        ),
    ],
)
def test_the_layer_rule_holds(violations: object, known: dict[str, str]) -> None:
    assert callable(violations)
    found: dict[str, list[str]] = violations()
    new = {name: what for name, what in found.items() if name not in known}
    assert not new, f"breaks the layer rule of docs/architecture.md: {new}"
    fixed = sorted(set(known) - set(found))
    assert not fixed, f"follow the rule now: remove them from the lists (and the doc): {fixed}"


def test_the_document_names_every_module_that_does_not_follow_the_rule_yet() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        name
        for name in sorted({*SQL_NOT_YET_IN_STORE, *ENTRY_POINTS_NOT_YET_ON_SERVICES})
        if f"`{name}`" not in text
    ]
    assert not missing
