"""Rows of ``app_user`` and ``membership``: who logs in to the web UI and their role in each
workspace. The rules (passwords, roles, what a log-in checks) live in
:mod:`halosync.users.service`; this is only their SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.store.models import Membership, User, Workspace


class UserRepository:
    """Users and their memberships."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_email(self, email: str) -> User | None:
        """The user with this (already normalised) email."""
        return self.session.scalar(select(User).where(User.email == email))

    def all(self) -> Sequence[User]:
        """Every user, by email."""
        return self.session.scalars(select(User).order_by(User.email)).all()

    def membership(self, user_id: int, workspace_id: int) -> Membership | None:
        """The user's membership of the workspace, if any."""
        return self.session.scalar(
            select(Membership).where(
                Membership.user_id == user_id, Membership.workspace_id == workspace_id
            )
        )

    def memberships(self, user_id: int) -> list[tuple[int, str, str]]:
        """(workspace id, workspace name, role) of each workspace the user may open, by name."""
        return [
            (workspace_id, name, role)
            for workspace_id, name, role in self.session.execute(
                select(Workspace.id, Workspace.name, Membership.role)
                .join(Membership, Membership.workspace_id == Workspace.id)
                .where(Membership.user_id == user_id)
                .order_by(Workspace.name)
            )
        ]

    def role_in(self, user_id: int, workspace_id: int) -> tuple[str, str] | None:
        """(workspace name, role) of the user in the workspace, or None."""
        row = self.session.execute(
            select(Workspace.name, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user_id, Membership.workspace_id == workspace_id)
        ).first()
        return (row.name, row.role) if row is not None else None
