"""Fixtures shared by every test tier.

Tests of the PostgreSQL and Redis paths use the real servers. Outside CI a missing
server skips those tests with a message that says what to start; under ``CI=true`` a
missing server is a failure.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.schema_template import ReusedPostgresSchema, create_schema, drop_schema, schema_url

POSTGRES_URL = os.environ.get(
    "HALOSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HALOSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''",
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a real service the test needs is not running."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}; start it with: {_HOW_TO_START[name]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """URL of the machine's PostgreSQL test database."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """URL of the machine's Redis."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test gets its own data directory, so no test sees another's key or database."""
    data_dir = tmp_path_factory.mktemp("halosync-data")
    saved = {k: os.environ.get(k) for k in ("HALOSYNC_DATA_DIR", "HALOSYNC_DATABASE_URL")}
    os.environ["HALOSYNC_DATA_DIR"] = str(data_dir)
    os.environ.pop("HALOSYNC_DATABASE_URL", None)
    yield data_dir
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    """A Redis queue name of this test only; its keys are deleted afterwards."""
    import uuid

    import redis

    name = f"halosync-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*{name}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def _reused_postgres_schema() -> Iterator[ReusedPostgresSchema]:
    """This process's migrated PostgreSQL schema, made when a test first asks for it."""
    reused = ReusedPostgresSchema(POSTGRES_URL)
    yield reused
    reused.close()


@pytest.fixture
def pg_schema_url(
    postgres_url: str, _reused_postgres_schema: ReusedPostgresSchema
) -> Iterator[str]:
    """A PostgreSQL URL whose default schema is at the newest revision and holds no rows:
    this process's one such schema, emptied after the test (tests/schema_template.py)."""
    yield _reused_postgres_schema.url()
    _reused_postgres_schema.reset()


@pytest.fixture
def pg_empty_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose default schema is a new, empty one (not even migrated),
    dropped after the test: for the tests of the migrations and of upgrading from empty."""
    from sqlalchemy import create_engine

    admin = create_engine(postgres_url)
    schema = create_schema(admin)
    try:
        yield schema_url(postgres_url, schema)
    finally:
        drop_schema(admin, schema)
        admin.dispose()


# The fast tier (marker ``fast``), which CI also runs on every other supported Python:
# pure logic, the store, the sync engine, sources, mapping, connection and the CLI, minus
# anything marked slow, browser or reliability (and the end-to-end CLI journeys, which
# start dozens of processes). The PostgreSQL halves of parametrised tests and the
# child-process uploads run in the full suite only: the tier checks that halosync's own
# code runs on another Python, and they doubled its time (CI must stay under 10 minutes).
FAST_TIER_DIRS = ("unit", "store", "sync", "sources", "mapping", "connection", "ops", "rules")
FAST_TIER_FILES = ("jobs/test_cli_commands.py",)
NOT_FAST_FILES = ("sources/test_upload.py",)
NOT_FAST = frozenset({"slow", "browser", "reliability"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the fast tier."""
    root = Path(__file__).parent
    for item in items:
        try:
            relative = item.path.relative_to(root)
        except ValueError:
            continue
        in_tier = (
            relative.parts[0] in FAST_TIER_DIRS or relative.as_posix() in FAST_TIER_FILES
        ) and relative.as_posix() not in NOT_FAST_FILES
        if "[postgresql" in item.name or "-postgresql" in item.name:
            in_tier = False
        if in_tier and not NOT_FAST & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.fast)


_TALLY: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the reliability tally each test reported (from this process or a worker)."""
    for name, value in report.user_properties:
        if name == "reliability_tally" and isinstance(value, dict):
            _TALLY.update(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault tally, the numbers docs/reliability.md quotes."""
    if not _TALLY:
        return
    terminalreporter.section("reliability tally")
    for key, count in sorted(_TALLY.items()):
        terminalreporter.write_line(f"{key}: {count}")
