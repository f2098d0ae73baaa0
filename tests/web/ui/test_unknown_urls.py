"""Unknown, malformed and wrong-method ``/ui`` URLs answer with a page (or an htmx
fragment) saying so: 404 or 405, never a 500 or a traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.routing import BaseRoute, Match, Route
from starlette.testclient import TestClient

from tests.web.ui.world import ADMIN, World, log_in

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
JUNK = ("junk/deeper", "%00", "..%2f..%2fetc", "\u00e9t\u00e9")


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        yield from _flat(included.routes) if included is not None else (route,)


def _ui_routes(world: World) -> list[Route]:
    return [
        route
        for route in _flat(world.app.routes)
        if isinstance(route, Route) and route.path.startswith("/ui")
    ]


def _fill(path: str, workspace_id: int) -> str:
    return path.replace("{workspace_id}", str(workspace_id)).replace("{step}", "accounts")


def _assert_page(response: Any, status: int, where: str) -> None:
    assert response.status_code == status, (where, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html"), where
    assert "Traceback" not in response.text
    assert "AttributeError" not in response.text


def _expected(routes: list[Route], method: str, url: str) -> int | None:
    """404 when no route has this path, 405 when none takes this method, None when one does."""
    scope = {"type": "http", "path": unquote(url), "method": method}
    matches = [route.matches(scope)[0] for route in routes]
    if Match.FULL in matches:
        return None
    return 405 if Match.PARTIAL in matches else 404


def _probes(world: World) -> Iterator[tuple[str, str, int]]:
    """(method, url, expected status) over the whole UI route table."""
    routes = _ui_routes(world)
    assert len(routes) > 30
    urls = {_fill(route.path, world.alpha) for route in routes}
    urls |= {f"{url.rstrip('/')}/{junk}" for url in set(urls) for junk in JUNK}
    urls |= {"/ui/nothing-here", "/ui/w", "/ui/w/"}
    for url in sorted(urls):
        for method in METHODS:
            status = _expected(routes, method, url)
            if status is not None:
                yield method, url, status
    # The static files are a mount, not routes.
    yield "GET", "/ui/static/missing.js", 404
    yield "POST", "/ui/static/halosync.css", 405


def test_every_unknown_or_wrong_method_ui_url_gets_a_real_page(world: World) -> None:
    anonymous = TestClient(world.app, raise_server_exceptions=False)
    client = TestClient(world.app, raise_server_exceptions=False)
    token = log_in(client, ADMIN)
    seen = 0
    for number, (method, url, status) in enumerate(_probes(world)):
        # Half the probes signed in, half not: a route that never ran has no session either way.
        who = (anonymous, client)[number % 2]
        data = {"csrf_token": token} if method != "GET" else None
        response = who.request(method, url, data=data, follow_redirects=False)
        _assert_page(response, status, f"{method} {url}")
        assert "<html" in response.text
        seen += 1
        if status == 405:
            assert "does not accept" in response.text
            assert response.headers.get("allow")
        else:
            assert "There is nothing here." in response.text
    assert seen > 300
    # Only /ui and what is under it is the UI's: /uijunk is a plain 404 of the app.
    assert anonymous.get("/uijunk").status_code == 404


def test_htmx_requests_get_a_fragment_not_a_page(world: World) -> None:
    client = TestClient(world.app, raise_server_exceptions=False)
    token = log_in(client, ADMIN)
    hx = {"HX-Request": "true", "X-CSRF-Token": token}
    missing = client.get(f"/ui/w/{world.alpha}/no-such-panel", headers=hx)
    _assert_page(missing, 404, "htmx 404")
    assert "<html" not in missing.text
    assert 'role="alert"' in missing.text
    wrong = client.delete(f"/ui/w/{world.alpha}/sync-status", headers=hx)
    _assert_page(wrong, 405, "htmx 405")
    assert "<html" not in wrong.text


def test_malformed_path_values_are_not_found(world: World) -> None:
    client = TestClient(world.app, raise_server_exceptions=False)
    token = log_in(client, ADMIN)
    for url in (
        "/ui/w/abc",
        "/ui/w/-1/accounts",
        "/ui/w/99999999999999999999999/logs",
        "/ui/w/1.5",
    ):
        response = client.get(url, follow_redirects=False)
        _assert_page(response, 404, url)
    # A form posted without its required field is a page naming the problem, not JSON.
    refused = client.post(
        f"/ui/w/{world.alpha}/settings/prices", data={"csrf_token": token}, follow_redirects=False
    )
    _assert_page(refused, 422, "missing form field")
    assert "price_mode" in refused.text
