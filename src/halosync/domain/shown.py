"""A value quoted in an error message as the input spelled it, one rule for every message.

An import file's value is shown in JSON's words (``null``, ``true``, ``1e-5``, ``"yes"``),
a number typed on the command line or in a form as typed (``-50``, ``12.50``): never a
Python repr (``None``, ``True``, ``1e-05``, ``Decimal('-50')``).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from halosync.domain.text import escaped

# Longer values are cut to this many characters, the last three "...".
MAX_SHOWN = 40
# Python writes 1e-05 and 1e+20 where JSON (and people) write 1e-5 and 1e20.
_EXPONENT = re.compile(r"e\+?(-?)0*(?=[0-9])")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return _EXPONENT.sub(r"e\1", repr(value))


def _words(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def shown(value: Any) -> str:
    """``value`` quoted for an error message, cut short when long: text in double quotes,
    anything else as JSON (or the person typing it) writes it."""
    text = escaped(value if isinstance(value, str) else _words(value))
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 3] + "..."
    return f'"{text}"' if isinstance(value, str) else text
