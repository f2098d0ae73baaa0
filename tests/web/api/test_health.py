"""``/healthz`` and ``/readyz``: unauthenticated, cheap, 503 with the reason when not ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from halosync.settings import Settings
from halosync.store.database import Database, head_revision
from halosync.web.app import create_app
from tests.busy_database import locked


def _client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'h.db'}")


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    made = create_app(settings)
    yield made
    made.state.database.dispose()


def test_healthz_answers_without_log_in(app: FastAPI) -> None:
    with _client(app) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"


def test_readyz_is_ready_with_database_and_embedded_queue(app: FastAPI) -> None:
    with _client(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "reachable, schema current", "queue": "reachable"},
    }


@pytest.mark.postgres
@pytest.mark.redis
def test_readyz_is_ready_on_postgres_and_redis(
    pg_schema_url: str, redis_url: str, queue_name: str
) -> None:
    settings = Settings(
        database_url=pg_schema_url, queue="redis", redis_url=redis_url, queue_name=queue_name
    )
    app = create_app(settings)
    try:
        with _client(app) as client:
            answer = client.get("/readyz")
        assert answer.status_code == 200, answer.text
    finally:
        app.state.database.dispose()


def test_readyz_is_503_when_the_schema_is_not_migrated(app: FastAPI) -> None:
    database: Database = app.state.database
    database.downgrade("-1")
    with _client(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert f"needs {head_revision()}" in body["reason"]
    assert body["checks"]["queue"] == "reachable"


def test_readyz_is_503_for_an_empty_database(app: FastAPI) -> None:
    app.state.database.downgrade("base")
    with _client(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "The database has no halosync schema yet."


def test_readyz_is_503_when_the_database_is_unreachable(app: FastAPI) -> None:
    app.state.database.dispose()
    # Nothing listens on port 1: the database "went away" under the running app.
    app.state.database = Database("postgresql+psycopg://halosync:pw-not-shown@127.0.0.1:1/none")
    with _client(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["reason"] == "Cannot reach the database."
    assert "127.0.0.1" not in answer.text
    assert "pw-not-shown" not in answer.text


def test_readyz_is_503_when_redis_is_down(settings: Settings) -> None:
    down = settings.model_copy(
        update={"queue": "redis", "redis_url": "redis://:pw-not-shown@127.0.0.1:1/0"}
    )
    app = create_app(down)
    try:
        with _client(app) as client:
            answer = client.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body == {
            "status": "not ready",
            "checks": {
                "database": "reachable, schema current",
                "queue": "Cannot reach the job queue.",
            },
            "reason": "Cannot reach the job queue.",
        }
        assert "pw-not-shown" not in answer.text
    finally:
        app.state.database.dispose()


def test_health_endpoints_stay_out_of_the_api_schema(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert "/healthz" not in paths
    assert "/readyz" not in paths


def test_readyz_is_ready_while_another_process_holds_sqlites_write_lock(app: FastAPI) -> None:
    """An import holds SQLite's write lock as long as it takes (24 s for 1,000,000 rows):
    the schema check read the revision taking that lock, so /readyz waited for it and
    then answered 503 'database is locked', and an orchestrator took a busy instance out
    of service (or restarted it) for an import."""
    database: Database = app.state.database
    with _client(app) as client, locked(database):
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
