"""How a page shows a value: stored text through the one rule for showing it.

A name refused today may be stored from before (a workspace name with CR/LF, an account
name with U+202E), and HaloPSA's own names are never refused: shown as they are, an
override would make ``Acme\\u202eDTL`` read ``AcmeLTD``. Jinja's ``finalize`` hands every
``{{ value }}`` of every template to :func:`shown_on_page` before it is HTML-escaped, so
no template can forget it; a form's hidden reference goes back exactly as stored
(``{{ ref | exact }}``), or the request would name another record.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from halosync.domain.text import escaped


class _Exact(Markup):
    """HTML-escaped text sent back by a form as it is stored (see :func:`exact`)."""


def exact(value: object) -> Markup:
    """``value`` HTML-escaped but not :func:`escaped`: for a form field that names a
    record (a reference kept with a control from before it was refused must still match)."""
    return _Exact(escape(value))


def shown_on_page(value: Any) -> Any:
    """Jinja's ``finalize``: text with its controls escaped (line breaks kept: the page
    decides what they do); everything else as it is."""
    if isinstance(value, _Exact):
        return value
    if isinstance(value, Markup):
        # Safe markup stays safe: only controls become ASCII backslash escapes.
        return Markup(escaped(str(value), keep_line_breaks=True))  # noqa: S704
    if isinstance(value, str):
        return escaped(value, keep_line_breaks=True)
    return value
