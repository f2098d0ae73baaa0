"""The sync engine: customers pull, usage push, runs, ledger, logs and reconciliation.

The names below are imported from their modules on first use, so that importing one small
module of the package (``halosync.sync.activity`` for ``halosync logs``) does not load the
whole engine and the HaloPSA client with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from halosync.sync.customers import run_customers_sync
    from halosync.sync.errors import SyncInProgressError
    from halosync.sync.halo import HaloFactory
    from halosync.sync.reconcile import build_reconciliation
    from halosync.sync.results import ChangeResult, RunReport, UsageReport
    from halosync.sync.usage import run_usage_sync

_HOMES = {
    "ChangeResult": "results",
    "HaloFactory": "halo",
    "RunReport": "results",
    "SyncInProgressError": "errors",
    "UsageReport": "results",
    "build_reconciliation": "reconcile",
    "run_customers_sync": "customers",
    "run_usage_sync": "usage",
}

__all__ = [
    "ChangeResult",
    "HaloFactory",
    "RunReport",
    "SyncInProgressError",
    "UsageReport",
    "build_reconciliation",
    "run_customers_sync",
    "run_usage_sync",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'halosync.sync' has no attribute {name!r}")
    return getattr(importlib.import_module(f"halosync.sync.{home}"), name)
