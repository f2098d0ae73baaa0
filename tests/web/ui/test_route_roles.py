"""Generated over the app's whole route table: who may do what, so no route is forgotten.

Every route is a public one (listed here, with why), a signed-in UI route, a UI route
inside a workspace, or a REST route of a workspace (tests/security/test_api_isolation.py).
Inside a workspace the UI answers each role by one rule: signed out, the log-in page;
another workspace's admin, 404; a viewer reads, and what it sends never changes anything,
never reaches HaloPSA and never records a run; an admin is never refused. Every unsafe
UI route refuses a form without the session's CSRF token.
"""

from __future__ import annotations

import httpx2
from starlette.testclient import TestClient

from halosync.store.models import SyncRun
from tests.web.route_table import API_WORKSPACE, UI_WORKSPACE, RouteEntry, route_table
from tests.web.ui.world import (
    ADMIN,
    OTHER,
    VIEWER,
    World,
    connect_and_pull,
    csrf_of,
    log_in,
    wait_idle,
)

PUBLIC = {
    ("GET", "/"): "redirects to the UI",
    ("GET", "/ui/login"): "the log-in form",
    ("POST", "/ui/login"): "logging in",
    ("POST", "/ui/logout"): "ends whatever session the cookie names",
    ("GET", "/ui/static"): "the UI's scripts and styles",
    ("GET", "/docs"): "the REST API's documentation",
    ("GET", "/docs/assets"): "its scripts and styles",
    ("GET", "/openapi.json"): "the REST API's OpenAPI document",
    ("GET", "/healthz"): "for load balancers; says only ok",
    ("GET", "/readyz"): "for orchestrators; names no host",
    ("GET", "/metrics"): "Prometheus; counts without names",
}
SIGNED_IN = {("GET", "/ui"), ("GET", "/ui/switch")}
"""UI routes outside a workspace: any signed-in user."""
VIEWER_MAY_SEND = {("POST", UI_WORKSPACE + "/setup/{step}/next")}
"""Unsafe methods a viewer may use: moving between wizard steps changes nothing."""
ADMIN_ONLY_READS = {
    ("GET", UI_WORKSPACE + "/accounts/edit"),
    ("GET", UI_WORKSPACE + "/accounts/suggest"),
    ("GET", UI_WORKSPACE + "/halo-clients"),
    ("GET", UI_WORKSPACE + "/halo-clients/invoices"),
    ("GET", UI_WORKSPACE + "/reconcile"),
    ("GET", UI_WORKSPACE + "/reconcile.csv"),
}
"""Reads that serve an admin's edit (picking a Halo client for a mapping, the suggested
mappings to save), and the reconciliation, which reads HaloPSA live."""
SAMPLE = {"{step}": "accounts", "{action}": "save"}


def _url(entry: RouteEntry, workspace_id: int) -> str:
    url = entry.path.replace("{workspace_id}", str(workspace_id))
    for name, value in SAMPLE.items():
        url = url.replace(name, value)
    return url


def _form(token: str) -> dict[str, str]:
    return {"csrf_token": token, "account_ref": "ACC-0001", "price_mode": "unit"}


def _send(client: TestClient, entry: RouteEntry, url: str, token: str) -> httpx2.Response:
    unsafe = entry.method != "GET"
    return client.request(
        entry.method,
        url,
        params={"ref": "ACC-0001", "q": "a", "halo_client_id": "1"},
        data=_form(token) if unsafe else None,
        follow_redirects=False,
    )


def _workspace_routes(world: World) -> list[RouteEntry]:
    routes = [e for e in route_table(world.app) if e.path.startswith(UI_WORKSPACE)]
    assert len(routes) > 40
    return routes


def _traces(world: World) -> tuple[int, int]:
    """Requests HaloPSA has had, and runs recorded: what a viewer must never add to."""
    with world.database.session() as session:
        runs = session.query(SyncRun).count()
    return len(world.simulator.state.request_log), runs


def test_every_route_is_public_signed_in_or_in_a_workspace(world: World) -> None:
    unclassified = [
        (entry.method, entry.path)
        for entry in route_table(world.app)
        if not entry.path.startswith((UI_WORKSPACE, API_WORKSPACE))
        and (entry.method, entry.path) not in PUBLIC
        and (entry.method, entry.path) not in SIGNED_IN
    ]
    assert unclassified == [], "classify each new route in this module"
    # Every listed exception still exists (a renamed route is not silently unchecked).
    table = {(entry.method, entry.path) for entry in route_table(world.app)}
    assert {*PUBLIC, *SIGNED_IN, *VIEWER_MAY_SEND, *ADMIN_ONLY_READS} <= table


def test_signed_out_every_ui_route_but_the_public_ones_goes_to_the_log_in(world: World) -> None:
    client = TestClient(world.app)
    token = csrf_of(client.get("/ui/login").text)
    before = _traces(world)
    entries = [
        e
        for e in route_table(world.app)
        if e.path.startswith(UI_WORKSPACE) or (e.method, e.path) in SIGNED_IN
    ]
    for entry in entries:
        response = _send(client, entry, _url(entry, world.alpha), token)
        where = (entry.method, entry.path)
        assert response.status_code == 303, (where, response.status_code)
        assert response.headers["location"] == "/ui/login", where
    assert _traces(world) == before


def test_another_workspaces_admin_finds_nothing(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, OTHER)
    for entry in _workspace_routes(world):
        response = _send(client, entry, _url(entry, world.alpha), token)
        where = (entry.method, entry.path)
        assert response.status_code == 404, (where, response.status_code)
        assert "Alpha" not in response.text, where


def test_a_viewer_reads_and_nothing_it_sends_reaches_halo_or_changes_anything(
    world: World,
) -> None:
    admin = TestClient(world.app)
    connect_and_pull(admin, world, log_in(admin, ADMIN))
    client = TestClient(world.app)
    token = log_in(client, VIEWER)
    before = _traces(world)
    for entry in _workspace_routes(world):
        response = _send(client, entry, _url(entry, world.alpha), token)
        status = response.status_code
        where = (entry.method, entry.path)
        if (entry.method, entry.path) in VIEWER_MAY_SEND:
            assert status in (200, 303), (where, status)
        elif entry.method != "GET" or (entry.method, entry.path) in ADMIN_ONLY_READS:
            assert status == 403, (where, status)
            assert "read-only (role viewer)" in response.text, where
        else:
            assert status in (200, 303), (where, status)
        assert _traces(world) == before, (where, "a viewer's request reached HaloPSA or ran")


def test_an_admin_is_refused_nothing(world: World) -> None:
    client = TestClient(world.app, raise_server_exceptions=False)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    for entry in _workspace_routes(world):
        response = _send(client, entry, _url(entry, world.alpha), token)
        status = response.status_code
        assert status != 403, ((entry.method, entry.path), status)
        assert status < 500, ((entry.method, entry.path), status)
        wait_idle(world)


def test_every_unsafe_ui_route_refuses_a_request_without_the_sessions_csrf_token(
    world: World,
) -> None:
    """Signed in as an admin, a form another site posts (no token, or a forged one) changes
    nothing on any UI route, log-out included."""
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    before = _traces(world)
    unsafe = [e for e in route_table(world.app) if e.path.startswith("/ui") and e.method != "GET"]
    assert len(unsafe) > 25
    for entry in unsafe:
        url = _url(entry, world.alpha)
        form = _form(token)
        del form["csrf_token"]
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.request(
                entry.method, url, data=form, headers=headers, follow_redirects=False
            )
            where = (entry.method, entry.path, headers)
            assert response.status_code == 403, (where, response.status_code)
            assert "did not come from this site" in response.text, where
    assert _traces(world) == before
    assert client.get(f"/ui/w/{world.alpha}", follow_redirects=False).status_code == 200
