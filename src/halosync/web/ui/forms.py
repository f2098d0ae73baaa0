"""Reading numbers typed into forms and query strings.

``str.isdigit`` accepts "²" and digit strings too long for the database, and Halo's
recurring-invoice ids are negative; every UI route reads integers through here instead.
"""

from __future__ import annotations

import re

_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")
INT32_MAX = 2**31 - 1


def whole_number(
    text: str | None, *, minimum: int = -INT32_MAX, maximum: int = INT32_MAX
) -> int | None:
    """The integer ``text`` spells (ASCII digits, optional sign) within the bounds, else None."""
    if text is None:
        return None
    cleaned = text.strip()
    if not _INTEGER.fullmatch(cleaned):
        return None
    value = int(cleaned)
    return value if minimum <= value <= maximum else None
