"""The users service, its CLI and the log-in rate limiter."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.errors import NotFoundError, ValidationFailedError
from halosync.store.database import Database
from halosync.store.models import LoginFailure, User
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import (
    AuthenticationError,
    Lockout,
    LoginLimits,
    LoginThrottle,
    authenticate,
    create_user,
    grant,
    list_users,
    memberships_of,
    revoke,
    role_in,
    set_password,
)
from halosync.users.ratelimit import account_key
from halosync.users.service import normalise_email
from tests.cli_inprocess import run_cli
from tests.schema_template import migrated

PASSWORD = "a long enough password"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return migrated(Database(f"sqlite:///{tmp_path / 'users.db'}"))


@pytest.fixture(scope="module")
def throttle_database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    """One database for every hypothesis example (each clears the failures first)."""
    built = Database(f"sqlite:///{tmp_path_factory.mktemp('throttle') / 'throttle.db'}")
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


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_lock_out_counts_per_account_per_address_and_per_both(database: Database) -> None:
    clock = ManualClock()
    limits = LoginLimits(per_pair=3, per_account=5, per_address=8, window=timedelta(seconds=60))
    throttle = LoginThrottle(database, limits, clock=clock)
    for _ in range(3):
        assert throttle.lockout("ann@x.test", "10.0.0.1") is None
        throttle.failed("ANN@x.test ", "10.0.0.1")
    paused = throttle.lockout("ann@x.test", "10.0.0.1")
    assert paused == Lockout("pair", 60)
    assert paused.message() == (
        "Too many failed log-ins for this account from your address. Try again in 1 minute."
    )
    # The owner elsewhere, and colleagues behind the same address, still log in.
    assert throttle.lockout("ann@x.test", "10.0.0.2") is None
    assert throttle.lockout("bob@x.test", "10.0.0.1") is None
    # Guessing spread over addresses pauses the account everywhere...
    clock.advance(10)
    throttle.failed("ann@x.test", "10.0.0.2")
    throttle.failed("ann@x.test", "10.0.0.3")
    assert throttle.lockout("ann@x.test", "10.0.0.9") == Lockout("account", 50)
    # ...and spraying many accounts from one address pauses that address.
    for n in range(8):
        throttle.failed(f"user{n}@x.test", "192.0.2.7")
    assert throttle.lockout("zed@x.test", "192.0.2.7") == Lockout("address", 60)
    # IPv6 counts per /64: a new address in the same block does not start afresh.
    for n in range(3):
        throttle.failed("cy@x.test", f"2001:db8::{n + 1}")
    assert throttle.lockout("cy@x.test", "2001:db8::ffff") is not None
    assert throttle.lockout("cy@x.test", "2001:db8:0:1::1") is None
    clock.advance(61)
    assert throttle.lockout("ann@x.test", "10.0.0.1") is None
    # The right password forgets that pair's failures only.
    throttle.failed("dee@x.test", "10.0.0.1")
    throttle.failed("dee@x.test", "10.0.0.2")
    throttle.succeeded("dee@x.test", "10.0.0.1")
    with database.session() as session:
        assert (
            session.query(LoginFailure).filter_by(account_key=account_key("dee@x.test")).count()
            == 1
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_database(request: pytest.FixtureRequest, database: Database) -> Iterator[Database]:
    """The SQLite database, and again a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield database
        return
    built = Database(request.getfixturevalue("pg_schema_url"))
    built.migrate()
    yield built
    built.dispose()


def test_failures_are_shared_by_every_process_and_stored_hashed(either_database: Database) -> None:
    database = either_database
    clock = ManualClock()
    limits = LoginLimits(per_pair=2, window=timedelta(minutes=5))
    one = LoginThrottle(database, limits, clock=clock)
    second_process = Database(database.url)
    other = LoginThrottle(second_process, limits, clock=clock)
    try:
        one.failed("ann@x.test", "10.0.0.1")
        other.failed("ann@x.test", "10.0.0.1")
        assert one.lockout("ann@x.test", "10.0.0.1") is not None
        assert other.lockout("ann@x.test", "10.0.0.1") is not None
    finally:
        second_process.dispose()
    with database.session() as session:
        stored = " ".join(
            f"{row.account_key} {row.address_key}" for row in session.query(LoginFailure)
        )
    assert "ann" not in stored
    assert "10.0.0.1" not in stored


@given(st.text(max_size=40), st.text(max_size=40))
def test_failures_count_per_account_as_log_in_finds_it(one: str, other: str) -> None:
    """Two spellings share a counter exactly when they log in to the same account."""
    same_account = normalise_email(one) == normalise_email(other)
    assert (account_key(one) == account_key(other)) == same_account
    assert account_key(one) == account_key(f"  {one} ")


def test_an_attempt_counts_before_its_password_is_checked(either_database: Database) -> None:
    """Attempts in flight (their passwords not checked yet) count against the limit: one
    sent beside them waits, uncounted; the right password then forgets the pair."""
    clock = ManualClock()
    limits = LoginLimits(per_pair=2, window=timedelta(minutes=5))
    throttle = LoginThrottle(either_database, limits, clock=clock)
    assert throttle.attempt("ann@x.test", "10.0.0.1") is None
    assert throttle.attempt("ann@x.test", "10.0.0.1") is None
    assert throttle.attempt("ann@x.test", "10.0.0.1") == Lockout("pair", 300)
    assert throttle.lockout("ann@x.test", "10.0.0.1") == Lockout("pair", 300)
    with either_database.session() as session:
        assert session.query(LoginFailure).count() == 2
    assert throttle.attempt("ann@x.test", "10.0.0.2") is None  # the owner, elsewhere
    throttle.succeeded("ann@x.test", "10.0.0.2")
    clock.advance(301)
    assert throttle.attempt("ann@x.test", "10.0.0.1") is None


def test_a_burst_of_attempts_gets_no_more_password_checks_than_the_limit(
    either_database: Database,
) -> None:
    """Many attempts at the same moment, from threads as from many web processes: no
    more than the limit go on to a password check (each counts after its own is stored)."""
    limits = LoginLimits(per_pair=3, window=timedelta(minutes=5))
    throttle = LoginThrottle(either_database, limits)
    burst = 12
    start = threading.Barrier(burst)

    def one(_: int) -> bool:
        start.wait()
        return throttle.attempt("ann@x.test", "10.0.0.1") is None

    with ThreadPoolExecutor(burst) as pool:
        checked = sum(pool.map(one, range(burst)))
    assert checked <= 3
    with either_database.session() as session:
        assert session.query(LoginFailure).count() == checked


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), max_size=12), st.integers(1, 5))
def test_lock_out_holds_exactly_at_the_limit_within_the_window(
    throttle_database: Database, times: list[int], limit: int
) -> None:
    database = throttle_database
    with database.session() as session:
        session.query(LoginFailure).delete()
    clock = ManualClock()
    start = clock.now
    limits = LoginLimits(
        per_pair=limit, per_account=limit, per_address=limit, window=timedelta(seconds=100)
    )
    throttle = LoginThrottle(database, limits, clock=clock)
    failed: list[int] = []
    for moment in sorted(times):
        clock.now = start + timedelta(seconds=moment)
        in_window = sum(1 for t in failed if t > moment - 100)
        assert (throttle.lockout("k@x.test", "10.0.0.1") is not None) == (in_window >= limit)
        throttle.failed("k@x.test", "10.0.0.1")
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
    # The password is piped into a real process once; the other steps run in this process.
    env = {"HALOSYNC_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    assert run_cli(env, "workspace", "create", "Alpha")[0] == 0
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
    code, _out, err = run_cli(
        env,
        *("user", "create", "--email", "b@example.com", "--name", "B", "--password-stdin"),
        stdin="short\n",
    )
    assert code == 1
    assert "too short" in err
    grant_viewer = ("--email", "ann@example.com", "--workspace", "Alpha", "--role", "viewer")
    code, _out, err = run_cli(env, "user", "grant", *grant_viewer)
    assert code == 0, err
    _code, listed, _err = run_cli(env, "user", "list", "--json")
    assert '"role": "viewer"' in listed
    assert "argon2" not in listed
    code, _out, err = run_cli(env, "user", "password", "--email", "ann@example.com")
    assert code == 1
    assert "--password-stdin" in err
