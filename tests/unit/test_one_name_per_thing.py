"""Each closed vocabulary of the glossary is written down once, in ``halosync.domain``.

Copies drift: a status added to one list and not another is accepted by the importer and
refused by the grid filter (or the database). Migrations are history and keep theirs.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "halosync"
OWNER = SOURCE / "domain" / "models.py"
VOCABULARIES = {
    "account statuses": frozenset({"active", "trial", "suspended", "cancelled"}),
    "roles": frozenset({"admin", "viewer"}),
    "sync run kinds": frozenset({"customers", "usage"}),
    "sync run triggers": frozenset({"manual", "schedule", "api"}),
}


def _literal_sets(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    """Every tuple, list or ``Literal[...]`` made only of string constants."""
    found: list[tuple[int, frozenset[str]]] = []
    for node in ast.walk(tree):
        elements: list[ast.expr] | None = None
        if isinstance(node, ast.Tuple | ast.List):
            elements = list(node.elts)
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            inner = node.slice
            elements = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if not elements or len(elements) < 2:
            continue
        values = [e.value for e in elements if isinstance(e, ast.Constant)]
        if len(values) == len(elements) and all(isinstance(v, str) for v in values):
            found.append((getattr(node, "lineno", 0), frozenset(str(v) for v in values)))
    return found


@functools.cache
def _every_literal_set() -> list[tuple[str, frozenset[str]]]:
    return [
        (f"{path.relative_to(SOURCE)}:{line}", values)
        for path in sorted(SOURCE.rglob("*.py"))
        if "migrations" not in path.parts and "simulator" not in path.parts
        for line, values in _literal_sets(ast.parse(path.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_a_vocabulary_is_written_once(name: str) -> None:
    wanted = VOCABULARIES[name]
    places = {place for place, values in _every_literal_set() if values == wanted}
    assert [place.split(":")[0] for place in places] == [str(OWNER.relative_to(SOURCE))], places
