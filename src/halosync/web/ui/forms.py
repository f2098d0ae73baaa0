"""Reading numbers typed into forms and query strings.

Halo's recurring-invoice ids are negative, so the default bounds are the whole 32-bit
range; every UI route reads integers through here (and so through
:func:`halosync.domain.numbers.parse_integer`, the one rule for numbers users type).
"""

from __future__ import annotations

from halosync.domain.numbers import parse_integer

INT32_MAX = 2**31 - 1


def whole_number(
    text: str | None, *, minimum: int = -INT32_MAX, maximum: int = INT32_MAX
) -> int | None:
    """The integer ``text`` spells (ASCII digits, optional sign) within the bounds, else None."""
    if text is None:
        return None
    return parse_integer(text, minimum=minimum, maximum=maximum)
