"""Which workspace a user named (by name or numeric id, or none when there is only one).

The one rule every entry point resolves ``--workspace`` by; Core statements on
:data:`halosync.store.tables.workspace`, so it runs on a Core connection (``halosync logs``
loads no ORM) as well as in a session (:meth:`WorkspaceRepository.resolve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from halosync.errors import NotFoundError, ValidationFailedError
from halosync.store.tables import workspace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

WORKSPACE_IN_PATH = "Use a workspace you are a member of."


def named_workspace(executor: Session | Connection, reference: str | None) -> tuple[int, str]:
    """(id, name) of the workspace named by name or numeric id; with none given, of the only
    workspace there is."""
    columns = select(workspace.c.id, workspace.c.name)
    if reference is None or not reference.strip():
        found = executor.execute(columns.order_by(workspace.c.id).limit(2)).all()
        if len(found) == 1:
            return found[0].id, found[0].name
        if not found:
            raise NotFoundError(
                "There is no workspace yet.",
                fix="Create one with `halosync workspace create NAME`.",
                fixes={"api": WORKSPACE_IN_PATH, "ui": WORKSPACE_IN_PATH},
            )
        raise ValidationFailedError(
            "There are several workspaces; say which one.",
            fix="Pass --workspace NAME (see `halosync workspace list`).",
            fixes={"api": WORKSPACE_IN_PATH, "ui": WORKSPACE_IN_PATH},
        )
    reference = reference.strip()
    row = executor.execute(columns.where(workspace.c.name == reference)).first()
    if row is None and reference.isdigit():
        row = executor.execute(columns.where(workspace.c.id == int(reference))).first()
    if row is None:
        raise NotFoundError(
            f"No workspace named {reference!r}.",
            fix="See `halosync workspace list`.",
            fixes={"api": WORKSPACE_IN_PATH, "ui": WORKSPACE_IN_PATH},
        )
    return row.id, row.name
