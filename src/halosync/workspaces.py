"""Workspaces (one per MSP tenant): create, list, and find the one a command names.

The service the CLI and the API call; the rows live in
:class:`halosync.store.workspaces.WorkspaceRepository`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from halosync.store.database import Database
from halosync.store.workspace_lookup import named_workspace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from halosync.store.models import Workspace
    from halosync.store.workspaces import WorkspaceRepository


def _repository(session: Session) -> WorkspaceRepository:
    # Imported here: the repository brings the ORM models, and resolving a name (which
    # every command does, and all that ``halosync logs`` does) reads without them.
    from halosync.store.workspaces import WorkspaceRepository

    return WorkspaceRepository(session)


@dataclass(frozen=True, slots=True)
class WorkspaceRef:
    """A workspace as commands name it."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class WorkspaceSummary:
    """A workspace as ``workspace list`` shows it."""

    id: int
    name: str
    target: str
    price_mode: str
    created_at: datetime


def workspace_in(session: Session, reference: str | None) -> Workspace:
    """The workspace named (by name or numeric id) in the caller's transaction; with none
    given, the only workspace there is."""
    return _repository(session).resolve(reference)


def workspace_by_id(session: Session, workspace_id: int) -> Workspace:
    """The workspace with this id, in the caller's transaction."""
    return _repository(session).get(workspace_id)


def resolve_workspace(database: Database, reference: str | None) -> WorkspaceRef:
    """The workspace named by ``--workspace``, or the only one when it was left out."""
    with database.read_connection() as connection:
        return WorkspaceRef(*named_workspace(connection, reference))


def create_workspace(database: Database, name: str) -> WorkspaceRef:
    """A new workspace with a unique name."""
    with database.session() as session:
        workspace = _repository(session).create(name)
        return WorkspaceRef(workspace.id, workspace.name)


def list_workspaces(database: Database) -> list[WorkspaceSummary]:
    """Every workspace, oldest first."""
    with database.session() as session:
        return [
            WorkspaceSummary(w.id, w.name, w.target, w.price_mode, w.created_at)
            for w in _repository(session).list()
        ]
