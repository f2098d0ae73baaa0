"""Web sessions end when they should: log-out, password change, an administrator, idle and
absolute expiry — for every copy of the cookie — and the log-in lock-out is per account and
per address, shared by every process."""

from __future__ import annotations

import json
from datetime import timedelta

import structlog
from starlette.testclient import TestClient
from typer.testing import CliRunner

from halosync.cli.app import app as cli_app
from halosync.database_url import sqlite_file
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import UserSession
from halosync.store.tokens import hash_token
from halosync.users import set_password
from halosync.web.app import create_app
from halosync.web.ui.security import SESSION_COOKIE
from tests.web.ui.world import ADMIN, PASSWORD, VIEWER, World, csrf_of, log_in


def _home(world: World) -> str:
    return f"/ui/w/{world.alpha}"


def _signed_in(client: TestClient, world: World) -> bool:
    response = client.get(_home(world), follow_redirects=False)
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def _copy(client: TestClient, world: World) -> TestClient:
    """Another browser holding the same cookie (a stolen or copied one)."""
    thief = TestClient(world.app)
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return thief


def _cli(world: World, *args: str) -> tuple[int, str]:
    saved = structlog.get_config()  # the CLI points logging at the runner's streams
    try:
        result = CliRunner().invoke(
            cli_app, ["--database-url", world.settings.resolved_database_url, *args]
        )
    finally:
        structlog.configure(**saved)
    return result.exit_code, result.stdout


def test_a_copied_cookie_is_dead_after_log_out(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    thief = _copy(client, world)
    assert _signed_in(thief, world)
    out = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/ui/login?ended=logout"
    assert "You have been logged out." in client.get(out.headers["location"]).text
    assert not _signed_in(client, world)
    # The cookie as it was before log-out opens nothing any more.
    refused = thief.get(_home(world), follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/ui/login")


def test_the_cookie_is_an_opaque_token_stored_only_as_its_hash(world: World) -> None:
    client = TestClient(world.app)
    before = client.get("/ui/login").cookies.get(SESSION_COOKIE) or client.cookies[SESSION_COOKIE]
    log_in(client, ADMIN)
    token = client.cookies[SESSION_COOKIE]
    assert token != before  # a new token at log-in: no session fixation
    assert len(token) >= 43
    assert "." not in token  # not a signed payload: nothing in it but randomness
    with world.database.session() as session:
        rows = session.query(UserSession).all()
        assert [row.token_hash for row in rows] == [hash_token(token)]
    raw = sqlite_file(world.settings.resolved_database_url)
    assert raw is not None
    world.database.dispose()
    with open(raw, "rb") as database_file:
        assert token.encode() not in database_file.read()


def test_idle_and_absolute_expiry_end_the_session(world: World) -> None:
    idle = timedelta(minutes=world.settings.session_idle_minutes)
    client = TestClient(world.app)
    log_in(client, ADMIN)
    assert _signed_in(client, world)
    with world.database.session() as session:
        session.query(UserSession).update({"last_seen_at": utcnow() - idle - timedelta(seconds=5)})
    expired = client.get(_home(world), follow_redirects=False)
    assert expired.headers["location"] == "/ui/login?ended=idle"
    page = client.get(expired.headers["location"]).text
    assert f"Your session ended after {world.settings.session_idle_minutes} minutes" in page
    # Busy all along, but logged in longer ago than the absolute limit.
    log_in(client, ADMIN)
    limit = timedelta(hours=world.settings.session_max_hours)
    with world.database.session() as session:
        live = session.query(UserSession).filter(UserSession.ended_at.is_(None)).one()
        live.created_at = utcnow() - limit - timedelta(seconds=5)
    hx = client.get(_home(world) + "/logs", headers={"HX-Request": "true"})
    assert hx.headers["HX-Redirect"] == "/ui/login?ended=expired"
    assert not _signed_in(client, world)
    with world.database.session() as session:
        reasons = sorted(row.end_reason or "" for row in session.query(UserSession))
    assert reasons == ["expired", "idle"]


def test_a_password_change_ends_every_session_of_that_user_only(world: World) -> None:
    laptop, phone, colleague = TestClient(world.app), TestClient(world.app), TestClient(world.app)
    log_in(laptop, ADMIN)
    log_in(phone, ADMIN)
    log_in(colleague, VIEWER)
    with world.database.session() as session:
        assert set_password(session, ADMIN, "a brand new password") == 2
    assert not _signed_in(laptop, world)
    assert not _signed_in(phone, world)
    assert _signed_in(colleague, world)
    page = laptop.get("/ui/login?ended=password").text
    assert "Your password was changed" in page


def test_an_administrator_ends_a_users_sessions_from_the_cli(world: World) -> None:
    first, second = TestClient(world.app), TestClient(world.app)
    log_in(
        first,
        ADMIN,
    )
    log_in(second, ADMIN)
    code, out = _cli(world, "user", "sessions", "--email", ADMIN, "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert len(listed) == 2
    assert {entry["address"] for entry in listed} == {"testclient"}
    code, out = _cli(world, "user", "logout", "--email", ADMIN, "--session", str(listed[0]["id"]))
    assert code == 0, out
    assert "Ended 1 web session(s)" in out
    assert [_signed_in(first, world), _signed_in(second, world)].count(True) == 1
    code, out = _cli(world, "user", "logout", "--email", ADMIN)
    assert "Ended 1 web session(s)" in out
    assert not _signed_in(first, world)
    assert not _signed_in(second, world)
    ended = first.get("/ui/login?ended=admin").text
    assert "An administrator ended your session." in ended
    assert json.loads(_cli(world, "user", "sessions", "--email", ADMIN, "--json")[1]) == []


def test_csrf_still_guards_every_change(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    url = f"/ui/w/{world.alpha}/sync-organizations"
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 403
    # The CSRF token of the signed-out log-in form is not the signed-in session's.
    assert (
        client.post(
            url, data={"csrf_token": csrf_of(TestClient(world.app).get("/ui/login").text)}
        ).status_code
        == 403
    )
    assert client.post(url, data={"csrf_token": token}, follow_redirects=False).status_code == 303


def test_lock_out_is_per_account_and_per_address_not_per_shared_address(world: World) -> None:
    office = TestClient(world.app, client=("198.51.100.7", 50000))
    home = TestClient(world.app, client=("203.0.113.9", 50000))
    token = csrf_of(office.get("/ui/login").text)
    for _ in range(world.settings.login_max_failures):
        guess = office.post(
            "/ui/login", data={"email": VIEWER, "password": "a wrong guess", "csrf_token": token}
        )
        assert guess.status_code == 401
    paused = office.post(
        "/ui/login", data={"email": VIEWER, "password": PASSWORD, "csrf_token": token}
    )
    assert paused.status_code == 429
    assert "Too many failed log-ins for this account from your address." in paused.text
    assert int(paused.headers["retry-after"]) > 0
    # A colleague behind the same office address logs in...
    colleague = TestClient(world.app, client=("198.51.100.7", 50001))
    log_in(colleague, ADMIN)
    # ...and so does the account's owner from home.
    log_in(home, VIEWER)


def test_lock_out_holds_across_processes(world: World) -> None:
    """Two web processes over one database see the same failures."""
    second_process = create_app(world.settings, database=Database(world.database.url))
    try:
        first = TestClient(world.app, client=("198.51.100.20", 1))
        second = TestClient(second_process, client=("198.51.100.20", 2))
        token_one = csrf_of(first.get("/ui/login").text)
        token_two = csrf_of(second.get("/ui/login").text)
        for attempt in range(world.settings.login_max_failures):
            client, token = (first, token_one) if attempt % 2 else (second, token_two)
            form = {"email": ADMIN, "password": "nope nope!", "csrf_token": token}
            assert client.post("/ui/login", data=form).status_code == 401
        for client, token in ((first, token_one), (second, token_two)):
            paused = client.post(
                "/ui/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": token}
            )
            assert paused.status_code == 429
    finally:
        second_process.state.database.dispose()
