"""People who log in to the web UI: argon2 passwords, per-workspace roles, log-in limits."""

from __future__ import annotations

from halosync.users.ratelimit import LoginRateLimiter
from halosync.users.service import (
    ROLES,
    AuthenticationError,
    UserView,
    WorkspaceRole,
    authenticate,
    create_user,
    grant,
    list_users,
    memberships_of,
    revoke,
    role_in,
    set_password,
)

__all__ = [
    "ROLES",
    "AuthenticationError",
    "LoginRateLimiter",
    "UserView",
    "WorkspaceRole",
    "authenticate",
    "create_user",
    "grant",
    "list_users",
    "memberships_of",
    "revoke",
    "role_in",
    "set_password",
]
