"""What counts as plain text in anything a user or vendor sends, one rule for every entry point
(imports, the REST API, and the names of workspaces, API tokens and users).

Refused: control characters (a tab is fine: it is stripped or shown as space), which break
PostgreSQL text (NUL) and hide in logs, grids and CSVs, and the line and paragraph
separators U+2028/U+2029 (a line break in a workspace name reached the sync e-mail's
Subject, whose send then failed); bidirectional controls (U+202A-U+202E embeddings and
overrides, U+2066-U+2069 isolates): ``Acme\\u202eDTL`` displays as ``AcmeLTD`` in the UI,
the CLI and a CSV opened in a spreadsheet, so a name would read as something it is not
(the marks U+200E/U+200F, which right-to-left names use, are kept); and a lone UTF-16
surrogate (U+D800-U+DFFF), which JSON's ``\\ud800`` escape spells but which is no
character at all: no UTF-8 encoder, so no database, log line or response, can write it.
"""

from __future__ import annotations

import re
import unicodedata

# C0 but the tab, DEL and C1 (Unicode's "Cc") and the line breaks U+2028/U+2029; the
# bidirectional controls; the surrogate range. One search when the text is plain.
_CONTROL = "\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SURROGATE = "\ud800-\udfff"
_NOT_PLAIN = re.compile(f"[{_CONTROL}{_BIDI}{_SURROGATE}]")
_CONTROLS = re.compile(f"[{_CONTROL}]")
_BIDI_CONTROLS = re.compile(f"[{_BIDI}]")
_SURROGATES = re.compile(f"[{_SURROGATE}]")
# Bytes that are not UTF-8, decoded with errors="surrogateescape" (a CSV file, the command
# line): each byte 0x80-0xFF becomes one of these, so it can be named where it stands.
UNDECODABLE = re.compile("[\udc80-\udcff]")
CONTROL_PROBLEM = "contains control characters (such as a line break or NUL)"
SURROGATE_PROBLEM = (
    "contains half of a UTF-16 surrogate pair (an escape from \\ud800 to \\udfff) without "
    "its other half, which is not a character; send the character itself or both halves"
)


def text_problem(text: str) -> str | None:
    """Why ``text`` is not plain text (to follow the field's name), or ``None`` when it is."""
    if _NOT_PLAIN.search(text) is None:
        return None
    if _CONTROLS.search(text) is not None:
        return CONTROL_PROBLEM
    if _SURROGATES.search(text) is not None:
        return SURROGATE_PROBLEM
    bidi = _BIDI_CONTROLS.search(text)
    assert bidi is not None
    char = bidi.group()
    return (
        f"contains the bidirectional control U+{ord(char):04X} "
        f"({unicodedata.name(char).lower()}), which shows the text in another order than "
        "it is written; remove it"
    )


def undecodable_byte(text: str) -> int | None:
    """The first byte that was not UTF-8 in ``text`` decoded with ``surrogateescape``."""
    found = UNDECODABLE.search(text)
    return None if found is None else ord(found.group()) - 0xDC00


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def escaped(text: str, *, keep_line_breaks: bool = False) -> str:
    """``text`` safe to show and encode: each character :func:`text_problem` refuses (a
    control, a line separator, a bidirectional control, a lone surrogate) written as JSON
    escapes it (``\\r``, ``\\n``, ``\\u202e``, ``\\ud800``), everything else as it is.

    The one rule for showing stored text (names kept from before they were refused, a
    vendor's reason): a line break cannot forge a line of a table or a log, an override
    cannot show ``Acme\\u202eDTL`` as ``AcmeLTD``, an escape cannot drive a terminal.
    ``keep_line_breaks``: LF (and CR before it) stay, for a page or a message of several
    lines whose line breaks are its own (HTML shows a name's as a space)."""
    if _NOT_PLAIN.search(text) is None:
        return text

    def escape(found: re.Match[str]) -> str:
        char = found.group()
        if keep_line_breaks and char in _SHORT_ESCAPES:
            return char
        return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return _NOT_PLAIN.sub(escape, text)
