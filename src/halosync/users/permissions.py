"""What each role may do in a workspace: one rule for the web UI and the REST API.

A person's membership and an API token both carry a role (admin or viewer); every route
that does more than read asks :func:`require_permission` for its action, so the UI and the
API can never disagree about what a viewer may do.
"""

from __future__ import annotations

from enum import StrEnum

from halosync.errors import HalosyncError


class Action(StrEnum):
    """Something a route does beyond reading."""

    CHANGE = "change"
    """Connection, mappings, settings, imports, tokens, syncs."""
    DRY_RUN = "dry_run"
    """A preview: it writes nothing, but reads HaloPSA with the workspace's credentials,
    spends the instance's shared rate budget and records a run."""
    RECONCILE = "reconcile"
    """The reconciliation report: it reads every licence or invoice line of the workspace
    from HaloPSA live, spending the rate budget (300 requests per 5 minutes) its syncs
    share, so a read-only role could starve them by reloading it."""


_LABELS = {
    Action.CHANGE: "writing",
    Action.DRY_RUN: "a dry run",
    Action.RECONCILE: "the reconciliation (it reads HaloPSA live)",
}
_ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "viewer": frozenset(),
}


class PermissionDeniedError(HalosyncError):
    """The caller's role does not allow the action."""


def may(role: str, action: Action) -> bool:
    """Whether ``role`` allows ``action`` (unknown roles allow nothing)."""
    return action in _ROLE_ACTIONS.get(role, frozenset())


def require_permission(role: str, action: Action, *, holder: str) -> None:
    """Raise :class:`PermissionDeniedError` naming ``holder`` unless ``role`` allows ``action``."""
    if not may(role, action):
        raise PermissionDeniedError(
            f"{holder} is read-only (role {role}); {_LABELS[action]} needs admin."
        )
