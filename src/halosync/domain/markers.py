"""The marker halosync stamps into records it creates, so it can recognise them again.

The Halo record id in the ledger is the identity; the marker only matters when a create
reached Halo but its id never reached the ledger (a crash or kill mid-run). It is a
stable hash of workspace, account and service (and the term of a term kept apart), so it
reveals nothing and survives renames of either side.
"""

from __future__ import annotations

import hashlib
import re

_MARKER_RE = re.compile(r"\[halosync:([0-9a-f]{16})\]")


def marker_for(workspace_key: str, account_ref: str, service_ref: str, apart_term: str = "") -> str:
    """The marker of one account × service in one workspace, e.g. ``[halosync:0123…]``.

    A term kept apart (terms rule ``apart``) has a marker of its own; without one
    (``""``) the marker is the pair's, the same as before terms could be kept apart.
    """
    parts = (workspace_key, account_ref, service_ref, *((apart_term,) if apart_term else ()))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"[halosync:{digest[:16]}]"


def find_marker(text: str | None) -> str | None:
    """The first halosync marker inside ``text`` (a notes or comment field), if any."""
    if not text:
        return None
    match = _MARKER_RE.search(text)
    return match.group(0) if match else None


def marker_note(marker: str) -> str:
    """The notes text a created licence carries; the wording tells admins to keep it."""
    return f"Kept in step by halosync; keep this tag so it is recognised: {marker}"
