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
from hypothesis import HealthCheck, is_hypothesis_test, settings

from tests.schema_template import ReusedPostgresSchema, create_schema, drop_schema, schema_url

POSTGRES_URL = os.environ.get(
    "HALOSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HALOSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Hypothesis's timing checks (an input drawn in over a second, an example over the
# deadline) fail tests only because the machine is busy: off everywhere, as Hypothesis's
# own CI profile (loaded under CI=true, and kept as the parent here) already does.
settings.register_profile(
    "halosync",
    parent=settings.default,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("halosync")

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


# The fast tier (marker ``fast``), which CI runs again on every other supported Python
# (scripts/test-fast). The whole suite runs on 3.11; what the tier adds is whether
# halosync's own code runs on another interpreter (a deprecation that is an error under
# filterwarnings, a changed library behaviour). So it holds the layers that run that code
# cheaply in this process: domain logic, the store on SQLite, sources, rules, mapping, the
# sync engine, the HaloPSA client and the simulator (in-process), connection, ops, and the
# CLI's commands. It leaves to the 3.11 run what no interpreter changes and costs most:
# - Hypothesis property tests: they search for inputs, and the inputs that break the code
#   do not depend on the interpreter; the example tests of the same modules run its code.
# - The PostgreSQL halves of parametrised tests (the SQLite halves run the same code) and
#   every other test marked postgres (PostgreSQL's behaviour is not the interpreter's).
# - Tests of SQL and data volume (statement counts, the grid's order over a built data
#   set, chunked and concurrently changed reads), tests that read the source instead of
#   running it (layers, names), and commands run again through child processes or the
#   CLI where a service test in the tier runs the same code.
# - Anything marked slow, browser or reliability, and the end-to-end CLI journeys.
# Before this list: 887 tests, 101-112 s per Python on a quiet machine (2 cores); on 3.12
# at load 12-24 their CPU was 244 s, this list's (1,091 tests, collection too) 114 s.
FAST_TIER_DIRS = (
    "unit",
    "store",
    "sources",
    "rules",
    "mapping",
    "sync",
    "halopsa",
    "simulator",
    "connection",
    "ops",
)
FAST_TIER_FILES = ("jobs/test_cli_commands.py",)
NOT_FAST_FILES = (
    "sources/test_upload.py",
    "mapping/test_account_grid_order.py",
    "sync/test_statements_per_batch.py",
    "sync/test_lists_that_change_while_read.py",
    "sync/test_chunked_sync.py",
    "sync/test_review_terms.py",
    "sync/test_review_retry.py",
    "unit/test_layers.py",
    "unit/test_one_name_per_thing.py",
    "unit/test_cli_startup.py",
    "rules/test_cli.py",
    "connection/test_cli.py",
    "simulator/test_cli.py",
)
NOT_FAST = frozenset({"slow", "browser", "reliability", "postgres"})


def _in_fast_tier(item: pytest.Item, relative: Path) -> bool:
    if relative.as_posix() in NOT_FAST_FILES:
        return False
    if relative.parts[0] not in FAST_TIER_DIRS and relative.as_posix() not in FAST_TIER_FILES:
        return False
    if "[postgresql" in item.name or "-postgresql" in item.name:
        return False
    if is_hypothesis_test(getattr(item, "obj", None)):
        return False
    return not NOT_FAST & {mark.name for mark in item.iter_markers()}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A run of the fast tier alone (``-m fast``) does not import the test modules outside
    it (their collection was about a tenth of the tier's CPU)."""
    if config.option.markexpr != "fast" or not collection_path.name.startswith("test_"):
        return None
    try:
        relative = collection_path.relative_to(Path(__file__).parent).as_posix()
    except ValueError:
        return None
    if relative in FAST_TIER_FILES:
        return None
    if collection_path.is_dir():
        return None
    return relative.split("/")[0] not in FAST_TIER_DIRS or relative in NOT_FAST_FILES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the fast tier."""
    root = Path(__file__).parent
    for item in items:
        try:
            relative = item.path.relative_to(root)
        except ValueError:
            continue
        if _in_fast_tier(item, relative):
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
