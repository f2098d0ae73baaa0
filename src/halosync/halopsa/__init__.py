"""The HaloPSA client: auth, paging, pacing, retries, typed errors and models."""

from __future__ import annotations

from halosync.halopsa.client import CreateRecovery, HaloApiClient, is_update
from halosync.halopsa.config import HaloConnectionConfig, check_outbound_url, normalise_tenant
from halosync.halopsa.pacing import RequestPacer, SlidingWindowPacer
from halosync.halopsa.permissions import TARGET_NEEDS, HaloPermission, needs_for
from halosync.halopsa.retry import RetryPolicy

__all__ = [
    "TARGET_NEEDS",
    "CreateRecovery",
    "HaloApiClient",
    "HaloConnectionConfig",
    "HaloPermission",
    "RequestPacer",
    "RetryPolicy",
    "SlidingWindowPacer",
    "check_outbound_url",
    "is_update",
    "needs_for",
    "normalise_tenant",
]
