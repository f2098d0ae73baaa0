"""People who log in to the web UI: argon2 passwords, per-workspace roles, sessions and
log-in limits."""

from __future__ import annotations

from halosync.domain.models import ROLES
from halosync.users.ratelimit import Lockout, LoginLimits, LoginThrottle
from halosync.users.service import (
    AuthenticationError,
    UserView,
    WorkspaceRole,
    authenticate,
    create_user,
    end_sessions,
    grant,
    list_users,
    memberships_of,
    revoke,
    role_in,
    sessions_of,
    set_password,
)

__all__ = [
    "ROLES",
    "AuthenticationError",
    "Lockout",
    "LoginLimits",
    "LoginThrottle",
    "UserView",
    "WorkspaceRole",
    "authenticate",
    "create_user",
    "end_sessions",
    "grant",
    "list_users",
    "memberships_of",
    "revoke",
    "role_in",
    "sessions_of",
    "set_password",
]
