"""``halosync user create|grant|revoke|list|password|sessions|logout``: people who log in to
the web UI, and their sessions."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, name, state
from halosync.cli.common import JsonOption, open_database
from halosync.errors import ValidationFailedError
from halosync.users import (
    create_user,
    end_sessions,
    grant,
    list_users,
    revoke,
    sessions_of,
    set_password,
)
from halosync.users.sessions import SessionPolicy
from halosync.workspaces import workspace_in

user_app = typer.Typer(help="Web UI users and their roles per workspace.", no_args_is_help=True)
app.add_typer(user_app, name="user")

PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input instead of a prompt."
    ),
]
EmailOption = Annotated[str, typer.Option("--email", help="The user's email.")]
RoleOption = Annotated[str, typer.Option("--role", help="admin (may change) or viewer (reads).")]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationFailedError(
            "No terminal to ask for the password.", fix="Pipe it in with --password-stdin."
        )
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ValidationFailedError("The two passwords differ; nothing was changed.")
    return first


@user_app.command("create")
def create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", help="The log-in email (unique).")],
    name: Annotated[str, typer.Option("--name", help="The person's name.")],
    password_stdin: PasswordStdinOption = False,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Give a role in this workspace.")
    ] = None,
    role: RoleOption = "admin",
    as_json: JsonOption = False,
) -> None:
    """Create a user (argon2-hashed password), optionally with a role in a workspace."""
    password = _read_password(password_stdin)
    database = open_database(ctx)
    with database.session() as session:
        target = workspace_in(session, workspace) if workspace else None
        user = create_user(
            session, email=email, name=name, password=password, workspace=target, role=role
        )
        document = {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "workspace": target.name if target else None,
            "role": role if target else None,
        }
    if as_json:
        emit_json(document)
        return
    where = f" ({document['role']} of {document['workspace']!r})" if target else ""
    echo(f"Created user {document['email']}{where}.")


@user_app.command("grant")
def grant_command(
    ctx: typer.Context,
    email: EmailOption,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name or id.")],
    role: RoleOption = "viewer",
) -> None:
    """Give a user a role (admin or viewer) in a workspace, or change it."""
    database = open_database(ctx)
    with database.session() as session:
        target = workspace_in(session, workspace)
        grant(session, email, target, role)
        name = target.name
    echo(f"{email.strip().lower()} is now {role} of {name!r}.")


@user_app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    email: EmailOption,
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Workspace name or id.")],
) -> None:
    """Remove a user's access to a workspace."""
    database = open_database(ctx)
    with database.session() as session:
        target = workspace_in(session, workspace)
        removed = revoke(session, email, target)
        name = target.name
    echo(
        f"Removed {email.strip().lower()} from {name!r}."
        if removed
        else f"{email.strip().lower()} had no access to {name!r}."
    )


@user_app.command("password")
def password_command(
    ctx: typer.Context,
    email: EmailOption,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Set a new password (ends the user's open web sessions)."""
    password = _read_password(password_stdin)
    database = open_database(ctx)
    with database.session() as session:
        ended = set_password(session, email, password)
    echo(f"Password changed; {ended} open web session(s) ended.")


@user_app.command("sessions")
def sessions_command(
    ctx: typer.Context,
    email: EmailOption,
    as_json: JsonOption = False,
) -> None:
    """List a user's open web UI sessions (when, from where, which browser)."""
    database = open_database(ctx)
    policy = SessionPolicy.from_settings(state(ctx).settings)
    with database.session() as session:
        found = sessions_of(session, email, policy)
    if as_json:
        emit_json([view.to_dict() for view in found])
        return
    if not found:
        echo(f"{email.strip().lower()} has no open web sessions.")
    for view in found:
        echo(
            f"{view.id}\tsince {view.created_at:%Y-%m-%d %H:%M} UTC\t"
            f"last seen {view.last_seen_at:%Y-%m-%d %H:%M} UTC\t"
            f"{view.address or '-'}\t{view.user_agent or '-'}"
        )


@user_app.command("logout")
def logout_command(
    ctx: typer.Context,
    email: EmailOption,
    session_id: Annotated[
        int | None,
        typer.Option("--session", help="End only this session (an id from `user sessions`)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """End a user's web UI sessions now (all of them, or one): their browsers must log in
    again."""
    database = open_database(ctx)
    with database.session() as session:
        ended = end_sessions(session, email, session_id=session_id)
    if as_json:
        emit_json({"email": email.strip().lower(), "sessions_ended": ended})
        return
    echo(f"Ended {ended} web session(s) of {email.strip().lower()}.")


@user_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List users and their roles per workspace."""
    database = open_database(ctx)
    with database.session() as session:
        users = list_users(session)
    if as_json:
        emit_json([user.to_dict() for user in users])
        return
    if not users:
        echo("No users yet. Create one with `halosync user create`.")
    for user in users:
        roles = ", ".join(f"{m.workspace_name}:{m.role}" for m in user.memberships) or "-"
        state = " (disabled)" if user.disabled else ""
        echo(f"{user.email}\t{name(user.name)}{state}\t{name(roles)}")
