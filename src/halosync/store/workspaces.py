"""Creating, finding and listing workspaces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from halosync.domain.targets import TargetSwitch, target_switch
from halosync.domain.text import text_problem
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.models import NAME_LENGTH, HaloConnection, LedgerEntry, Workspace
from halosync.store.workspace_lookup import named_workspace


class WorkspaceRepository:
    """Workspaces are the one table not scoped by a workspace."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str) -> Workspace:
        """A new workspace named ``name`` (unique, 1-255 characters)."""
        clean = name.strip()
        if not clean or len(clean) > NAME_LENGTH:
            raise ValidationFailedError(
                f"Workspace name {name!r} is not valid: it must be 1-{NAME_LENGTH} characters."
            )
        problem = text_problem(clean)
        if problem is not None:
            raise ValidationFailedError(f"Workspace name {name!r} is not valid: it {problem}.")
        if self.find(clean) is not None:
            raise ValidationFailedError(f"A workspace named {clean!r} already exists.")
        workspace = Workspace(name=clean)
        self.session.add(workspace)
        self.session.flush()
        return workspace

    def get(self, workspace_id: int) -> Workspace:
        """The workspace with this id, or :class:`NotFoundError`."""
        workspace = self.session.get(Workspace, workspace_id)
        if workspace is None:
            raise NotFoundError(f"No workspace with id {workspace_id}.")
        return workspace

    def find(self, name: str) -> Workspace | None:
        """The workspace with exactly this name, if any."""
        return self.session.scalar(select(Workspace).where(Workspace.name == name))

    def resolve(self, reference: str | None) -> Workspace:
        """A workspace by name or numeric id; with none given, the only workspace there is."""
        workspace_id, _ = named_workspace(self.session, reference)
        return self.get(workspace_id)

    def list(self, *, limit: int | None = None) -> Sequence[Workspace]:
        """Every workspace, oldest first."""
        query = select(Workspace).order_by(Workspace.id)
        if limit is not None:
            query = query.limit(limit)
        return self.session.scalars(query).all()

    def finished_and_connected(
        self, workspace_id: int | None = None
    ) -> Sequence[tuple[int, datetime]]:
        """(id, when setup finished) of every workspace (or just ``workspace_id``) whose setup
        was finished and that has a Halo connection: the ones schedules run for."""
        query = (
            select(Workspace.id, Workspace.setup_finished_at)
            .join(HaloConnection, HaloConnection.workspace_id == Workspace.id)
            .where(Workspace.setup_finished_at.is_not(None))
        )
        if workspace_id is not None:
            query = query.where(Workspace.id == workspace_id)
        return [
            (found, finished_at)
            for found, finished_at in self.session.execute(query)
            if finished_at is not None  # the query's condition
        ]

    def log_retentions(self) -> Sequence[tuple[int, int]]:
        """(id, log retention in days) of every workspace."""
        return [
            (workspace_id, days)
            for workspace_id, days in self.session.execute(
                select(Workspace.id, Workspace.log_retention_days)
            )
        ]

    def count(self) -> int:
        """How many workspaces exist."""
        return self.session.scalar(select(func.count()).select_from(Workspace)) or 0

    def set_target(self, workspace: Workspace, target: str) -> None:
        """Switch where the workspace's counts land; its accounts' mapping status follows
        (whether a mapping without a recurring invoice is Required depends on it)."""
        if target != workspace.target:
            workspace.target = target
            refresh_mapping_columns(self.session, workspace.id)

    def target_switch(self, workspace: Workspace, target: str | None) -> TargetSwitch | None:
        """The switch to ``target`` that must be confirmed first (records were written)."""
        if target is None or target == workspace.target:
            return None
        written = self.session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.workspace_id == workspace.id,
                LedgerEntry.target == workspace.target,
                LedgerEntry.halo_record_id.is_not(None),
            )
        )
        return target_switch(workspace.target, target, written or 0)
