"""What counts as plain text in anything a user or vendor sends, one rule for every entry point.

Refused: control characters (a tab is fine: it is stripped or shown as space), which break
PostgreSQL text (NUL) and hide in logs, grids and CSVs; and a lone UTF-16 surrogate
(U+D800-U+DFFF), which JSON's ``\\ud800`` escape spells but which is no character at all:
no UTF-8 encoder, so no database, log line or response, can write it.
"""

from __future__ import annotations

import re

# C0 but the tab, DEL and C1 (Unicode's "Cc"), then the surrogate range.
_CONTROL = "\x00-\x08\x0a-\x1f\x7f-\x9f"
_SURROGATE = "\ud800-\udfff"
_NOT_PLAIN = re.compile(f"[{_CONTROL}{_SURROGATE}]")
_SURROGATES = re.compile(f"[{_SURROGATE}]")
CONTROL_PROBLEM = "contains control characters (such as a line break or NUL)"
SURROGATE_PROBLEM = (
    "contains half of a UTF-16 surrogate pair (an escape from \\ud800 to \\udfff) without "
    "its other half, which is not a character; send the character itself or both halves"
)


def text_problem(text: str) -> str | None:
    """Why ``text`` is not plain text (to follow the field's name), or ``None`` when it is."""
    found = _NOT_PLAIN.search(text)
    if found is None:
        return None
    return CONTROL_PROBLEM if found.group() < "\ud800" else SURROGATE_PROBLEM


def escaped(text: str) -> str:
    """``text`` safe to show and encode: each lone surrogate written as JSON escapes it
    (``\\ud800``), everything else as it is."""
    if _SURROGATES.search(text) is None:
        return text
    return _SURROGATES.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
