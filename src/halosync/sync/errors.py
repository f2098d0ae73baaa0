"""Errors of the sync engine that users read: a run refused, or halted by configuration."""

from __future__ import annotations

from halosync.errors import HalosyncError

SYNC_IN_PROGRESS = "Sync in progress"


class SyncInProgressError(HalosyncError):
    """Another sync of the same workspace is queued or running (the database refused it)."""

    def __init__(self, workspace: str) -> None:
        super().__init__(
            f"{SYNC_IN_PROGRESS}: workspace {workspace!r} already has a sync queued or running.",
            fix="Wait for it to finish (see `halosync logs`), then try again.",
        )


class RunNotQueuedError(HalosyncError):
    """A worker tried to start a queued run that another worker took or the reaper closed."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"Sync run {run_id} is no longer queued; nothing to do.")
        self.run_id = run_id
