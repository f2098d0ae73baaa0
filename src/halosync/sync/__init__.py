"""The sync engine: customers pull, usage push, runs, ledger, logs and reconciliation."""

from __future__ import annotations

from halosync.sync.customers import run_customers_sync
from halosync.sync.errors import SyncInProgressError
from halosync.sync.halo import HaloFactory
from halosync.sync.reconcile import build_reconciliation
from halosync.sync.results import ChangeResult, RunReport, UsageReport
from halosync.sync.usage import run_usage_sync

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
