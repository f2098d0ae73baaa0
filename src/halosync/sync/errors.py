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
