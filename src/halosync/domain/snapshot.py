"""When a snapshot import may cancel subscriptions without the operator's explicit word.

A snapshot is the vendor's full list: what it lacks is cancelled, and the next sync sets
those counts in HaloPSA to 0. An empty or truncated export would therefore zero bills;
churn in a healthy export is a small share. Pure rules, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_CANCEL_LIMIT_PERCENT = 50
"""Largest share of a workspace's active subscriptions one snapshot may cancel unasked."""


@dataclass(frozen=True, slots=True)
class MassCancel:
    """Why a snapshot is held back: it lists nothing, or cancels too large a share."""

    reason: Literal["empty", "share"]
    would_cancel: int
    active: int
    limit_percent: int

    @property
    def percent(self) -> float:
        """The share of active subscriptions it would cancel, in percent."""
        return 100.0 * self.would_cancel / self.active if self.active else 0.0


def mass_cancel(
    *, would_cancel: int, active: int, listed: int, limit_percent: int
) -> MassCancel | None:
    """What is wrong with a snapshot that lists ``listed`` subscriptions and would cancel
    ``would_cancel`` of the workspace's ``active`` ones, or None when it may go ahead.

    Cancelling nothing is always fine. A snapshot listing no subscriptions never cancels
    unasked (whatever the limit: it is an empty export, not the vendor's word). Otherwise
    it may cancel up to ``limit_percent`` % of the active subscriptions.
    """
    if would_cancel <= 0:
        return None
    if listed == 0:
        return MassCancel("empty", would_cancel, active, limit_percent)
    if would_cancel * 100 > limit_percent * active:
        return MassCancel("share", would_cancel, active, limit_percent)
    return None
