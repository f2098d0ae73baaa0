"""The users service, its CLI and the log-in rate limiter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.errors import NotFoundError, ValidationFailedError
from halosync.store.database import Database
from halosync.store.models import User
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import (
    AuthenticationError,
    LoginRateLimiter,
    authenticate,
    create_user,
    grant,
    list_users,
    memberships_of,
    revoke,
    role_in,
    set_password,
)

PASSWORD = "a long enough password"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    built = Database(f"sqlite:///{tmp_path / 'users.db'}")
    built.migrate()
    return built


def test_create_authenticate_and_roles(database: Database) -> None:
    with database.session() as session:
        alpha = WorkspaceRepository(session).create("Alpha")
        beta = WorkspaceRepository(session).create("Beta")
        user = create_user(
            session, email=" Ann@Example.com ", name="Ann", password=PASSWORD, workspace=alpha
        )
        assert user.email == "ann@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        grant(session, "ann@example.com", beta, "viewer")
        roles = {m.workspace_name: m.role for m in memberships_of(session, user.id)}
        assert roles == {"Alpha": "admin", "Beta": "viewer"}
        beta_role = role_in(session, user.id, beta.id)
        assert beta_role is not None
        assert not beta_role.can_write
        grant(session, "ann@example.com", beta, "admin")
        assert role_in(session, user.id, beta.id).can_write  # type: ignore[union-attr]
        assert revoke(session, "ann@example.com", beta)
        assert role_in(session, user.id, beta.id) is None
        assert not revoke(session, "ann@example.com", beta)
    with database.session() as session:
        signed_in = authenticate(session, "ANN@example.com", PASSWORD)
        assert signed_in.last_login_at is not None
        with pytest.raises(AuthenticationError, match="not correct"):
            authenticate(session, "ann@example.com", "wrong password!")
        with pytest.raises(AuthenticationError, match="not correct"):
            authenticate(session, "nobody@example.com", PASSWORD)
        set_password(session, "ann@example.com", "another long password")
    with database.session() as session:
        with pytest.raises(AuthenticationError):
            authenticate(session, "ann@example.com", PASSWORD)
        session.query(User).update({"disabled": True})
    with database.session() as session, pytest.raises(AuthenticationError):
        authenticate(session, "ann@example.com", "another long password")


def test_bad_input_is_refused_before_anything_is_written(database: Database) -> None:
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("Alpha")
        with pytest.raises(ValidationFailedError, match="not a valid email address"):
            create_user(session, email="not-an-email", name="X", password=PASSWORD)
        with pytest.raises(ValidationFailedError, match="too short"):
            create_user(session, email="x@example.com", name="X", password="short")
        with pytest.raises(ValidationFailedError, match="Role 'owner' is not valid"):
            create_user(
                session,
                email="x@example.com",
                name="X",
                password=PASSWORD,
                workspace=workspace,
                role="owner",
            )
        create_user(session, email="x@example.com", name="X", password=PASSWORD)
        with pytest.raises(ValidationFailedError, match="already exists"):
            create_user(session, email="X@example.com", name="X", password=PASSWORD)
        with pytest.raises(NotFoundError):
            grant(session, "ghost@example.com", workspace, "viewer")
    with database.session() as session:
        assert [view.email for view in list_users(session)] == ["x@example.com"]


def test_rate_limiter_pauses_after_failures_and_forgets_on_success() -> None:
    now = [0.0]
    limiter = LoginRateLimiter(max_failures=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("email:a", "ip:1") == 0
        limiter.failed("email:a", "ip:1")
    assert limiter.retry_after("email:a") == 60
    assert limiter.retry_after("ip:1", "email:b") == 60
    assert limiter.retry_after("email:b") == 0
    now[0] = 30.5
    assert limiter.retry_after("email:a") == 30
    now[0] = 60.0
    assert limiter.retry_after("email:a") == 0
    limiter.failed("email:a")
    limiter.succeeded("email:a")
    assert limiter.retry_after("email:a") == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1000), max_size=20), st.integers(1, 5))
def test_rate_limiter_blocks_exactly_at_the_limit_within_the_window(
    times: list[float], limit: int
) -> None:
    now = [0.0]
    limiter = LoginRateLimiter(max_failures=limit, window_seconds=100, clock=lambda: now[0])
    failed: list[float] = []
    for moment in sorted(times):
        now[0] = moment
        in_window = sum(1 for t in failed if t > moment - 100)
        assert (limiter.retry_after("k") > 0) == (in_window >= limit)
        limiter.failed("k")
        failed.append(moment)


def _cli(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "HALOSYNC_DATA_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    return subprocess.run(
        [sys.executable, "-m", "halosync", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_user_cli(tmp_path: Path) -> None:
    assert _cli(["workspace", "create", "Alpha"], tmp_path).returncode == 0
    created = _cli(
        [
            "user",
            "create",
            "--email",
            "ann@example.com",
            "--name",
            "Ann",
            "--password-stdin",
            "--workspace",
            "Alpha",
            "--role",
            "admin",
        ],
        tmp_path,
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert "Created user ann@example.com (admin of 'Alpha')." in created.stdout
    assert PASSWORD not in created.stdout + created.stderr
    short = _cli(
        ["user", "create", "--email", "b@example.com", "--name", "B", "--password-stdin"],
        tmp_path,
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "too short" in short.stderr
    granted = _cli(
        ["user", "grant", "--email", "ann@example.com", "--workspace", "Alpha", "--role", "viewer"],
        tmp_path,
    )
    assert granted.returncode == 0, granted.stderr
    listed = _cli(["user", "list", "--json"], tmp_path)
    assert '"role": "viewer"' in listed.stdout
    assert "argon2" not in listed.stdout
    no_tty = _cli(["user", "password", "--email", "ann@example.com"], tmp_path)
    assert no_tty.returncode == 1
    assert "--password-stdin" in no_tty.stderr
