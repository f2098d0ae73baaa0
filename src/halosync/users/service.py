"""Creating users, checking passwords and answering "what may this user do where".

Only argon2id hashes are stored. A failed log-in says the same thing whether the email is
unknown or the password wrong, so the form does not reveal who has an account.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from halosync.domain.models import ROLES
from halosync.domain.text import text_problem
from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.store.models import NAME_LENGTH, Membership, User, Workspace
from halosync.store.users import UserRepository
from halosync.users.permissions import Action, may
from halosync.users.sessions import SessionPolicy, SessionView, end_user_sessions, live_sessions

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take as long.


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown emails, so both take as long (made on first use:
    hashing costs ~0.1 s, which every command-line start would otherwise pay)."""
    return _hasher.hash("halosync-no-such-user-password")


LOGIN_FAILED = "The email or password is not correct."


class AuthenticationError(HalosyncError):
    """A log-in was refused (wrong email or password, or a disabled user)."""


@dataclass(frozen=True)
class WorkspaceRole:
    """A user's role in one workspace."""

    workspace_id: int
    workspace_name: str
    role: str

    @property
    def can_write(self) -> bool:
        """Admins change things; viewers only read."""
        return may(self.role, Action.CHANGE)

    def may(self, action: str) -> bool:
        """Whether this role allows ``action`` (an :class:`Action` value; for templates)."""
        return may(self.role, Action(action))


@dataclass(frozen=True)
class UserView:
    """A user as listed by the CLI and shown in the UI (never the hash)."""

    id: int
    email: str
    name: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    memberships: tuple[WorkspaceRole, ...]

    def to_dict(self) -> dict[str, object]:
        """The ``--json`` shape."""
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
            "workspaces": [
                {"workspace": m.workspace_name, "role": m.role} for m in self.memberships
            ],
        }


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing, or absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailedError(
            f"The password is too short: it needs at least {MIN_PASSWORD_LENGTH} characters."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailedError(
            f"The password is too long: at most {MAX_PASSWORD_LENGTH} characters."
        )


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailedError(
            f"Role {role!r} is not valid.", fix=f"Use one of: {', '.join(ROLES)}."
        )
    return role


def _user(session: Session, email: str) -> User:
    user = UserRepository(session).by_email(normalise_email(email))
    if user is None:
        raise NotFoundError(f"No user with email {email.strip()!r}.")
    return user


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    workspace: Workspace | None = None,
    role: str = "admin",
) -> User:
    """A new user (and, with ``workspace``, their role there); checks everything first."""
    clean_email = normalise_email(email)
    clean_name = name.strip()
    problems: list[str] = []
    if not _EMAIL.match(clean_email) or len(clean_email) > NAME_LENGTH:
        problems.append(f"email {email.strip()!r} is not a valid email address")
    if not clean_name or len(clean_name) > NAME_LENGTH:
        problems.append(f"name must be 1-{NAME_LENGTH} characters")
    elif (problem := text_problem(clean_name)) is not None:
        problems.append(f"name {name.strip()!r} {problem}")
    if problems:
        raise ValidationFailedError("Cannot create the user: " + "; ".join(problems) + ".")
    check_password(password)
    if workspace is not None:
        _check_role(role)
    if UserRepository(session).by_email(clean_email) is not None:
        raise ValidationFailedError(f"A user with email {clean_email!r} already exists.")
    user = User(email=clean_email, name=clean_name, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    if workspace is not None:
        session.add(Membership(user_id=user.id, workspace_id=workspace.id, role=role))
        session.flush()
    return user


def set_password(
    session: Session, email: str, password: str, *, now: datetime | None = None
) -> int:
    """Replace a user's password and end every web session they have open (whoever holds
    one, a stolen one included, logs in again); returns how many were ended."""
    check_password(password)
    user = _user(session, email)
    user.password_hash = _hasher.hash(password)
    return end_user_sessions(session, user.id, "password", now=now or datetime.now(UTC))


def end_sessions(
    session: Session, email: str, *, session_id: int | None = None, now: datetime | None = None
) -> int:
    """An administrator ends a user's web sessions (or only ``session_id``); returns how many."""
    user = _user(session, email)
    return end_user_sessions(
        session, user.id, "admin", now=now or datetime.now(UTC), session_id=session_id
    )


def sessions_of(
    session: Session, email: str, policy: SessionPolicy, *, now: datetime | None = None
) -> list[SessionView]:
    """A user's live web sessions, newest first."""
    return live_sessions(
        session, _user(session, email).id, now=now or datetime.now(UTC), policy=policy
    )


def grant(session: Session, email: str, workspace: Workspace, role: str) -> Membership:
    """Give (or change) a user's role in a workspace."""
    _check_role(role)
    user = _user(session, email)
    membership = UserRepository(session).membership(user.id, workspace.id)
    if membership is None:
        membership = Membership(user_id=user.id, workspace_id=workspace.id, role=role)
        session.add(membership)
    else:
        membership.role = role
    session.flush()
    return membership


def revoke(session: Session, email: str, workspace: Workspace) -> bool:
    """Remove a user's access to a workspace. False when they had none."""
    user = _user(session, email)
    membership = UserRepository(session).membership(user.id, workspace.id)
    if membership is None:
        return False
    session.delete(membership)
    session.flush()
    return True


def authenticate(
    session: Session, email: str, password: str, *, now: datetime | None = None
) -> User:
    """The user whose email and password these are, or :class:`AuthenticationError`."""
    user = UserRepository(session).by_email(normalise_email(email))
    if user is None:
        _verify(_dummy_hash(), password)
        raise AuthenticationError(LOGIN_FAILED)
    if not _verify(user.password_hash, password) or user.disabled:
        raise AuthenticationError(LOGIN_FAILED)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now or datetime.now(UTC)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def memberships_of(session: Session, user_id: int) -> list[WorkspaceRole]:
    """The workspaces a user may open, by name, with their role in each."""
    rows = UserRepository(session).memberships(user_id)
    return [WorkspaceRole(workspace_id, name, role) for workspace_id, name, role in rows]


def role_in(session: Session, user_id: int, workspace_id: int) -> WorkspaceRole | None:
    """The user's role in the workspace, or None when they have no access to it."""
    found = UserRepository(session).role_in(user_id, workspace_id)
    return WorkspaceRole(workspace_id, *found) if found is not None else None


def list_users(session: Session) -> Sequence[UserView]:
    """Every user with their workspaces, by email."""
    users = UserRepository(session).all()
    return [
        UserView(
            id=user.id,
            email=user.email,
            name=user.name,
            disabled=user.disabled,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            memberships=tuple(memberships_of(session, user.id)),
        )
        for user in users
    ]


def signed_in_user(session: Session, user_id: int) -> UserView | None:
    """The user a live web session belongs to, with the workspaces they may open; None when
    the user is gone or disabled (the session must end)."""
    user = session.get(User, user_id)
    if user is None or user.disabled:
        return None
    return UserView(
        id=user.id,
        email=user.email,
        name=user.name,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        memberships=tuple(memberships_of(session, user.id)),
    )
