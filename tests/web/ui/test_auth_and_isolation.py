"""Log-in, sessions, CSRF, rate limiting, roles and workspace isolation in the web UI."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from halosync.store.models import SyncRun
from halosync.users import set_password
from tests.web.route_table import UI_WORKSPACE, route_table
from tests.web.ui.world import (
    ADMIN,
    OTHER,
    PASSWORD,
    VIEWER,
    World,
    connect_halo,
    csrf_of,
    log_in,
)


def _workspace_routes(world: World) -> list[tuple[str, str]]:
    """(method, path template) of every UI route inside a workspace, from the app itself."""
    return [
        (entry.method, entry.path)
        for entry in route_table(world.app)
        if entry.path.startswith(UI_WORKSPACE)
    ]


def _fill(path: str, workspace_id: int) -> str:
    return (
        path.replace("{workspace_id}", str(workspace_id))
        .replace("{step}", "accounts")
        .replace("{action}", "save")
    )


def test_pages_need_a_log_in(world: World) -> None:
    client = TestClient(world.app)
    response = client.get(f"/ui/w/{world.alpha}/accounts", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    hx = client.get(f"/ui/w/{world.alpha}/logs", headers={"HX-Request": "true"})
    assert hx.headers["HX-Redirect"] == "/ui/login"


def test_log_in_sets_a_safe_cookie_and_log_out_ends_the_session(world: World) -> None:
    client = TestClient(world.app)
    page = client.get("/ui/login")
    response = client.post(
        "/ui/login",
        data={"email": ADMIN.upper(), "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http here; https adds Secure
    token = csrf_of(client.get(f"/ui/w/{world.alpha}").text)
    client.post("/ui/logout", data={"csrf_token": token})
    assert client.get(f"/ui/w/{world.alpha}", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https(world: World) -> None:
    client = TestClient(world.app, base_url="https://halosync.test")
    response = client.get("/ui/login")
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_says_so_without_telling_who_exists(world: World) -> None:
    client = TestClient(world.app)
    token = csrf_of(client.get("/ui/login").text)
    wrong = client.post(
        "/ui/login", data={"email": ADMIN, "password": "not it at all", "csrf_token": token}
    )
    unknown = client.post(
        "/ui/login",
        data={"email": "nobody@x.test", "password": "whatever1234", "csrf_token": token},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not correct." in wrong.text
    assert "The email or password is not correct." in unknown.text


def test_log_in_is_rate_limited(world: World) -> None:
    client = TestClient(world.app)
    token = csrf_of(client.get("/ui/login").text)
    for _ in range(5):
        client.post(
            "/ui/login", data={"email": VIEWER, "password": "bad guess!!", "csrf_token": token}
        )
    blocked = client.post(
        "/ui/login", data={"email": VIEWER, "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "Too many failed log-ins" in blocked.text


def test_unsafe_requests_need_the_csrf_token(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    url = f"/ui/w/{world.alpha}/sync-organizations"
    assert client.post(url, follow_redirects=False).status_code == 403
    assert (
        client.post(url, data={"csrf_token": "forged"}, follow_redirects=False).status_code == 403
    )
    login_form = client.post("/ui/login", data={"email": ADMIN, "password": PASSWORD})
    assert login_form.status_code == 403
    ok = client.post(url, headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert ok.status_code == 303


def test_a_new_password_ends_open_sessions(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    assert client.get(f"/ui/w/{world.alpha}").status_code == 200
    with world.database.session() as session:
        set_password(session, ADMIN, "a brand new password")
    assert client.get(f"/ui/w/{world.alpha}", follow_redirects=False).status_code == 303


def test_a_user_of_one_workspace_reaches_nothing_of_another(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    routes = _workspace_routes(world)
    assert len(routes) > 25
    for method, path in routes:
        url = _fill(path, world.beta)
        response = client.request(
            method,
            url,
            params={"ref": "ACC-0001", "q": "a"},
            data={"csrf_token": token, "account_ref": "ACC-0001"} if method == "POST" else None,
            follow_redirects=False,
        )
        assert response.status_code in (403, 404), (method, url, response.status_code)
        assert "Beta" not in response.text
    # ...while the same routes of their own workspace answer.
    assert client.get(f"/ui/w/{world.alpha}/accounts").status_code == 200
    # A refusal in the UI is a page a person reads, not the API's JSON.
    refused = client.get(f"/ui/w/{world.beta}/accounts")
    assert refused.headers["content-type"].startswith("text/html")
    assert "No such workspace." in refused.text
    assert client.get("/api/v1/no-such-route").headers["content-type"] == "application/json"


def test_the_switcher_lists_only_the_users_workspaces(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    page = client.get(f"/ui/w/{world.alpha}").text
    assert "Alpha" in page
    assert "Beta" not in page
    with world.database.session() as session:
        from halosync.store.workspaces import WorkspaceRepository
        from halosync.users import grant

        grant(session, ADMIN, WorkspaceRepository(session).get(world.beta), "viewer")
    page = client.get(f"/ui/w/{world.alpha}").text
    assert re.search(r'<select id="workspace-switcher"', page)
    assert "Beta (viewer)" in page
    assert (
        client.get(f"/ui/switch?to={world.beta}", follow_redirects=False).headers["location"]
        == f"/ui/w/{world.beta}"
    )


def test_a_viewer_reads_but_cannot_change_anything(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, VIEWER)
    for method, path in _workspace_routes(world):
        url = _fill(path, world.alpha)
        if method == "GET":
            continue
        response = client.request(
            method,
            url,
            data={"csrf_token": token, "account_ref": "ACC-0001", "price_mode": "unit"},
            follow_redirects=False,
        )
        if path.endswith("/next"):
            # Moving between wizard steps changes nothing.
            assert response.status_code in (200, 303), (url, response.status_code)
        else:
            assert response.status_code == 403, (method, url, response.status_code)
    refused = client.post(f"/ui/w/{world.alpha}/sync-now", data={"csrf_token": token})
    assert refused.headers["content-type"].startswith("text/html")
    assert "read-only (role viewer)" in refused.text
    page = client.get(f"/ui/w/{world.alpha}/accounts").text
    assert "Click to select" not in page
    dashboard = client.get(f"/ui/w/{world.alpha}").text
    assert "Configure HaloPSA" not in dashboard


def test_the_other_workspace_admin_cannot_see_alpha(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, OTHER)
    assert client.get(f"/ui/w/{world.alpha}").status_code == 404
    assert client.get("/ui", follow_redirects=False).headers["location"] == f"/ui/w/{world.beta}"


def test_no_page_ever_shows_the_client_secret(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    secret = world.application.client_secret
    saved = client.post(
        f"/ui/w/{world.alpha}/setup/connect",
        data={
            "csrf_token": token,
            "server_url": world.halo_url,
            "client_id": world.application.client_id,
            "client_secret": secret,
        },
    )
    assert secret not in saved.text
    for method, path in _workspace_routes(world):
        if method != "GET":
            continue
        response = client.get(_fill(path, world.alpha), params={"ref": "ACC-0001", "q": "a"})
        assert response.status_code in (200, 404), (path, response.status_code)
        assert secret not in response.text, path


def test_pages_cannot_be_framed_or_sniffed(world: World) -> None:
    client = TestClient(world.app)
    for path in ("/ui/login", "/api/v1/no-such-route", "/openapi.json"):
        headers = client.get(path).headers
        assert headers["x-frame-options"] == "DENY", path
        assert headers["content-security-policy"] == "frame-ancestors 'none'", path
        assert headers["x-content-type-options"] == "nosniff", path


def test_a_viewer_cannot_read_halo_live_through_the_reconciliation(world: World) -> None:
    """The reconciliation reads HaloPSA live and spends the rate budget syncs share: the UI
    refuses a viewer (page and CSV) by the API's rule, and says so instead of a bare 403."""
    client = TestClient(world.app)
    connect_halo(client, world, log_in(client, ADMIN))
    client.post("/ui/logout", data={"csrf_token": csrf_of(client.get("/ui/login").text)})
    viewer = TestClient(world.app)
    log_in(viewer, VIEWER)
    world.simulator.state.request_log.clear()
    page = viewer.get(f"/ui/w/{world.alpha}/reconcile")
    assert page.status_code == 403
    assert "the reconciliation (it reads HaloPSA live) needs admin" in page.text
    assert 'id="csv"' not in page.text
    assert viewer.get(f"/ui/w/{world.alpha}/reconcile.csv").status_code == 403
    assert world.simulator.state.request_log.entries() == []


def test_a_viewer_cannot_run_a_dry_run_in_the_ui_as_in_the_api(world: World) -> None:
    """A dry run reads HaloPSA with the workspace's credentials and spends its rate budget:
    admins only, by the same rule the REST API applies to a viewer token."""
    client = TestClient(world.app)
    token = log_in(client, VIEWER)
    page = client.get(f"/ui/w/{world.alpha}/preview").text
    assert re.search(r'<button[^>]*id="run-preview"[^>]*disabled', page)
    refused = client.post(f"/ui/w/{world.alpha}/preview", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "a dry run needs admin" in refused.text
    with world.database.session() as session:
        assert session.query(SyncRun).count() == 0
    # The rule is one function: the UI and the API say the same about the same role.
    from halosync.users.permissions import (
        Action,
        PermissionDeniedError,
        may,
        require_permission,
    )

    assert may("viewer", Action.DRY_RUN) is False
    assert may("admin", Action.DRY_RUN) is True
    with pytest.raises(PermissionDeniedError, match="read-only"):
        require_permission("viewer", Action.DRY_RUN, holder="This API token")
