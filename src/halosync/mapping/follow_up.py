"""What happens right after an account is mapped: licences created at once, as a setting.

Some vendors create the Halo licences when a client is mapped rather than at the next
scheduled sync (the workspace setting "create licences on mapping"). That is a per-account
usage sync queued through the same jobs facade as Sync Now, so the one-sync-per-workspace
rule, the ledger and the dry-run rules all hold for it too.
"""

from __future__ import annotations

from collections.abc import Iterable

from halosync.jobs.queue import JobQueue
from halosync.jobs.service import CooldownError, request_sync
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.errors import SyncInProgressError


def creates_licences_on_mapping(database: Database, workspace_id: int) -> bool:
    """True when mapping an account should create its licences now (licence target only)."""
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        return workspace.create_licence_on_mapping and workspace.target == "licence"


def queue_licences_for_mapped(
    database: Database,
    settings: Settings,
    queue: JobQueue,
    workspace_id: int,
    account_refs: Iterable[str],
) -> str | None:
    """Queue the usage sync that creates the newly mapped accounts' licences, if asked to.

    One account gets a sync of that account; several (accepted suggestions) get one sync of
    all accounts. Returns a sentence for the user, None when the setting is off. A sync
    already running, or a cooldown, is reported rather than raised: the next sync creates
    the licences then.
    """
    refs = sorted(set(account_refs))
    if not refs or not creates_licences_on_mapping(database, workspace_id):
        return None
    only = refs[0] if len(refs) == 1 else None
    whose = f"the licences of {only}" if only else f"the licences of {len(refs)} accounts"
    try:
        run_id = request_sync(
            database,
            settings,
            queue,
            workspace_id,
            kind="usage",
            account_ref=only,
            trigger="manual",
        )
    except (SyncInProgressError, CooldownError) as refused:
        return f"{refused} — {whose} will be created by the next sync."
    return f"Creating {whose} in HaloPSA (run {run_id})."
