"""The search boxes' one rule: a case-insensitive substring, or a Halo id typed in full.

``%`` and ``_`` are LIKE wildcards; a reference such as ``50%_off`` must find itself and
nothing else, so they (and the escape character) are escaped in every search.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_

from halosync.domain.numbers import parse_integer

_ESCAPE = "\\"
HALO_ID_MAX = 2**31 - 1


def like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards and the escape character taken literally."""
    for special in (_ESCAPE, "%", "_"):
        text = text.replace(special, _ESCAPE + special)
    return text


def contains(column: Any, term: str) -> ColumnElement[bool]:
    """``column`` contains ``term``, ignoring case (wildcards in ``term`` taken literally)."""
    pattern = f"%{like_escaped(term.lower())}%"
    return func.lower(column).like(pattern, escape=_ESCAPE)


def name_or_halo_id(name: Any, halo_id: Any, term: str) -> ColumnElement[bool]:
    """A picker's search: the name contains ``term``, or ``term`` is the record's Halo id."""
    condition = contains(name, term)
    number = parse_integer(term, minimum=1, maximum=HALO_ID_MAX)
    return or_(condition, halo_id == number) if number is not None else condition
