"""Generated over the route table: every ``/api/v1/workspaces/{workspace}`` route refuses
another workspace's token (404, no hint the workspace exists), a missing or unknown token
(401), and, for every route that changes something, a viewer token (403)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.models import SyncRun
from halosync.store.tokens import hash_token
from halosync.web.app import create_app
from tests.web.api.conftest import CLIENT_SECRET, Api
from tests.web.route_table import API_WORKSPACE, route_table

PREFIX = API_WORKSPACE
SAMPLE_PARAMETERS = {
    "account_ref": "A1",
    "service_ref": "MAIL",
    "run_id": "1",
    "token_id": "1",
    "kind": "usage",
}
# Reads that are still for admins only: the token list.
# Reads a viewer may not make: the tokens, and what reads HaloPSA live (its rate budget).
ADMIN_ONLY_READS = {
    ("GET", PREFIX + "/tokens"),
    ("GET", PREFIX + "/reconciliation"),
    ("GET", PREFIX + "/reconciliation.csv"),
}


def _workspace_routes() -> list[tuple[str, str]]:
    settings = Settings(database_url="sqlite://")
    app = create_app(settings, database=Database("sqlite://"))
    walked = {
        (entry.method, entry.path) for entry in route_table(app) if entry.path.startswith(PREFIX)
    }
    # The published OpenAPI must list nothing the walk missed.
    published = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(PREFIX)
        for method in operations
    }
    assert published <= walked, published - walked
    return sorted(walked)


ROUTES = _workspace_routes()
MUTATING = [(m, p) for m, p in ROUTES if m not in ("GET", "HEAD")]
READS = [(m, p) for m, p in ROUTES if m in ("GET", "HEAD") and (m, p) not in ADMIN_ONLY_READS]


def _url(path: str, workspace: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return workspace if name == "workspace" else SAMPLE_PARAMETERS[name]

    return re.sub(r"\{([^}]+)\}", fill, path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = Api(Path(tmp_path_factory.mktemp("isolation")))
    assert api.connect().status_code == 200
    api.import_usage()
    api.pull_customers()
    yield api
    api.queue.close()
    api.database.dispose()


def test_the_route_table_is_covered() -> None:
    assert len(ROUTES) >= 30
    assert len(MUTATING) >= 15
    # Every path parameter has a sample value, so no route is skipped.
    names = {n.split(":")[0] for _, p in ROUTES for n in re.findall(r"\{([^}]+)\}", p)}
    assert names <= {"workspace", *SAMPLE_PARAMETERS}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_another_workspaces_token_gets_404(world: Api, method: str, path: str) -> None:
    for workspace in ("acme", str(world.acme)):
        response = world.request(method, _url(path, workspace), token=world.other_admin)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == f"No workspace {workspace!r}."


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_or_unknown_token_gets_401(world: Api, method: str, path: str) -> None:
    url = _url(path, "acme")
    missing = world.request(method, url, token="")
    assert missing.status_code == 401, (method, path, missing.text)
    assert "Authorization: Bearer" in missing.json()["detail"]
    unknown = world.request(method, url, token="hs_not-a-real-token")
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_viewer_cannot_mutate(world: Api, method: str, path: str) -> None:
    response = world.request(method, _url(path, "acme"), token=world.viewer)
    assert response.status_code == 403, (method, path, response.text)
    assert "read-only (role viewer)" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), sorted(ADMIN_ONLY_READS))
def test_viewer_cannot_make_admin_only_reads(world: Api, method: str, path: str) -> None:
    response = world.request(method, _url(path, "acme"), token=world.viewer)
    assert response.status_code == 403, (method, path, response.text)
    assert "read-only (role viewer)" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), READS)
def test_viewer_can_read(world: Api, method: str, path: str) -> None:
    """...and what a viewer reads never reaches HaloPSA nor records a run (the UI's rule,
    tests/web/ui/test_route_roles.py): reading Halo live spends the rate budget."""
    halo_before, runs_before = len(world.sim.state.request_log), _runs(world)
    response = world.request(method, _url(path, "acme"), token=world.viewer)
    assert response.status_code not in (401, 403), (method, path, response.text)
    assert response.status_code < 500, (method, path, response.text)
    assert len(world.sim.state.request_log) == halo_before, (method, path)
    assert _runs(world) == runs_before, (method, path)


@pytest.mark.parametrize(("method", "path"), [*READS, *sorted(ADMIN_ONLY_READS)])
def test_no_read_shows_a_secret_or_a_token(world: Api, method: str, path: str) -> None:
    """The client secret, the API tokens (only their hashes are kept) and their hashes
    appear in no answer of any read, an admin's included."""
    response = world.request(method, _url(path, "acme"), token=world.admin)
    assert response.status_code < 500, (method, path, response.text)
    for token in (world.admin, world.viewer, world.other_admin):
        assert token not in response.text, (method, path)
        assert hash_token(token) not in response.text, (method, path)
    assert CLIENT_SECRET not in response.text, (method, path)


def _runs(world: Api) -> int:
    with world.database.session() as session:
        return session.query(SyncRun).count()


def test_ids_of_another_workspaces_objects_are_not_found(world: Api) -> None:
    from halosync.store.models import ApiToken

    with world.database.session() as session:
        run = SyncRun(workspace_id=world.other, kind="usage", trigger="manual", status="failed")
        session.add(run)
        session.flush()
        run_id = run.id
        token_id = session.query(ApiToken.id).filter(ApiToken.workspace_id == world.other).scalar()
    assert world.get(f"runs/{run_id}").status_code == 404
    assert run_id not in [r["id"] for r in world.get("runs").json()["items"]]
    refused = world.delete(f"tokens/{token_id}")
    assert refused.status_code == 404
    assert world.get("settings", token=world.other_admin, workspace="other").status_code == 200
