"""Reading numbers people type: ASCII digits only, one rule for every entry point.

Python's ``int()`` and ``Decimal()`` take any Unicode decimal digit ("１２", "١٢") and
underscores ("1_000"), and ``str.isdigit`` also says yes to "²". A count, price or Halo
id written that way is a paste from somewhere else, never something to bill on, so every
number read from user input (import files, REST bodies and paths, CLI arguments, UI forms)
is read here: an optional sign, ASCII digits, and for decimals one ASCII point.
"""

from __future__ import annotations

import re
from decimal import Decimal

INTEGER_PATTERN = r"[+-]?[0-9]+"
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(INTEGER_PATTERN)
_DECIMAL = re.compile(DECIMAL_PATTERN)
# More digits than any bound we check against needs; keeps int() away from huge strings.
_MAX_DIGITS = 40


def parse_integer(
    text: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """The integer ``text`` spells (surrounding blanks allowed), within the bounds; else None."""
    cleaned = text.strip()
    if not _INTEGER.fullmatch(cleaned) or len(cleaned.lstrip("+-").lstrip("0")) > _MAX_DIGITS:
        return None
    value = int(cleaned)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        return None
    return value


def parse_decimal(text: str) -> Decimal | None:
    """The decimal ``text`` spells (``12``, ``-0.5``, ``12.50``), else None: no exponent,
    no underscores, no NaN or Infinity, ASCII digits only."""
    cleaned = text.strip()
    if not _DECIMAL.fullmatch(cleaned):
        return None
    return Decimal(cleaned)


def exact_count(value: Decimal) -> Decimal:
    """A count as people read it, the value unchanged: ``12`` for ``12.0000`` (a whole count
    reads as one, never ``1.2E+1``), ``12.4`` for ``12.4000``."""
    whole = value.to_integral_value()
    return whole if value == whole else value.normalize()


def json_count(value: Decimal) -> int | float:
    """A count as a JSON number, read as :func:`exact_count` reads it: ``12`` for
    ``12.0000`` (never ``12.0``), ``12.4`` for ``12.4000``."""
    count = exact_count(value)
    return int(count) if count == count.to_integral_value() else float(count)
