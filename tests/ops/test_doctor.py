"""``halosync doctor`` against the simulator on a real port: all well, then each problem.

Every failing check names what is wrong and the fix, and makes the exit status 1; checks
that depend on a failed one are skipped rather than failed twice.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread
from halosync.store.crypto import generate_key
from halosync.store.database import Database, head_revision
from tests.e2e.cli import Cli, cli_environment

CLIENT_ID = "doctor-app"
LIMITED_ID = "doctor-limited-app"
SECRET = "doctor-secret-3f9a1c7e-55b2-4d0e-9a61-0c7d2b8e4f13"


@pytest.fixture(scope="module")
def halo_url() -> Iterator[str]:
    app = create_app(
        SimulatorConfig(
            applications=[
                ApiApplication(CLIENT_ID, SECRET, ("all",)),
                ApiApplication(LIMITED_ID, SECRET, ("read:customers",)),
            ]
        )
    )
    app.state.seed(generate_demo_seed(clients=2))
    with serve_in_thread(app) as url:
        yield url


def _cli(home: Path) -> Cli:
    """The CLI with a data directory and database under ``home``, logging everything."""
    return Cli(cli_environment(home, HALOSYNC_LOG_FORMAT="json", HALOSYNC_LOG_LEVEL="debug"))


def _connect(cli: Cli, workspace: str, url: str, client_id: str = CLIENT_ID) -> None:
    assert cli.in_process("workspace", "create", workspace).returncode == 0
    saved = cli.in_process(
        "connection", "set", "--workspace", workspace, "--server", url,
        "--client-id", client_id, "--client-secret", SECRET, "--no-test",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr


def _doctor(
    cli: Cli, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    done = cli.in_process("doctor", "--json", *args)
    document = json.loads(done.stdout)
    assert document["ok"] is (done.returncode == 0)
    return done, {check["name"]: check for check in document["checks"]}


@pytest.fixture
def cli(tmp_path: Path, halo_url: str) -> Cli:
    made = _cli(tmp_path)
    _connect(made, "acme", halo_url)
    return made


def test_all_well_exits_zero_and_says_so(cli: Cli) -> None:
    done, checks = _doctor(cli)
    assert done.returncode == 0, done.stdout
    assert {name: c["status"] for name, c in checks.items()} == {
        "settings": "ok",
        "files": "ok",
        "database": "ok",
        "queue": "ok",
        "key": "ok",
        "workspace acme": "ok",
    }
    assert "1 stored secret(s) decrypt" in checks["key"]["detail"]
    assert checks["workspace acme"]["detail"] == "Halo connection: Test is successful."
    text = cli.in_process("doctor")
    assert text.returncode == 0
    assert text.stdout.strip().endswith("All checks passed.")
    assert SECRET not in "".join(cli.outputs)


def test_fresh_install_is_well_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The zero-config default: no HALOSYNC_DATA_DIR and no database URL, so the database too
    # goes in the default data directory ($XDG_DATA_HOME/halosync), made on first use.
    share = tmp_path / "share"
    cli = _cli(tmp_path / "cli")
    del cli.env["HALOSYNC_DATABASE_URL"], cli.env["HALOSYNC_DATA_DIR"]
    monkeypatch.delenv("HALOSYNC_DATA_DIR")
    cli.env["XDG_DATA_HOME"] = str(share)
    done, checks = _doctor(cli)
    assert done.returncode == 0
    assert f"data directory {share / 'halosync'}" in checks["settings"]["detail"]
    assert "created on first use" in checks["database"]["detail"]
    assert "created on first use" in checks["key"]["detail"]
    assert not share.exists()


def test_a_failing_halo_connection_names_the_missing_permissions(cli: Cli, halo_url: str) -> None:
    _connect(cli, "limited", halo_url, client_id=LIMITED_ID)
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert checks["workspace acme"]["status"] == "ok"
    problem = checks["workspace limited"]
    assert problem["status"] == "problem"
    assert problem["detail"].startswith("Halo connection: Test is not successful.")
    assert "Software Licensing / Subscriptions" in problem["detail"]
    assert "halosync connection set --workspace limited" in problem["fix"]
    only, checks = _doctor(cli, "--workspace", "acme")
    assert only.returncode == 0
    assert "workspace limited" not in checks


def test_invalid_settings_are_named(cli: Cli) -> None:
    cli.env["HALOSYNC_QUEUE"] = "rabbitmq"
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert list(checks) == ["settings"]
    assert "HALOSYNC_QUEUE: Input should be 'embedded' or 'redis'" in checks["settings"]["detail"]


def test_an_unreachable_database_skips_what_needs_it(cli: Cli) -> None:
    cli.env["HALOSYNC_DATABASE_URL"] = "postgresql+psycopg://halosync:db-pw-hidden@127.0.0.1:1/x"
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert checks["database"]["status"] == "problem"
    assert (
        "Cannot reach the database at postgresql+psycopg://halosync:***@127.0.0.1:1/x"
        in (checks["database"]["detail"])
    )
    assert "HALOSYNC_DATABASE_URL" in checks["database"]["fix"]
    assert checks["key"]["status"] == "skipped"
    assert checks["workspaces"]["status"] == "skipped"
    assert "db-pw-hidden" not in done.stdout


def test_an_old_schema_is_a_problem_only_without_auto_migrate(cli: Cli, tmp_path: Path) -> None:
    database = Database(cli.env["HALOSYNC_DATABASE_URL"])
    database.downgrade("-1")
    database.dispose()
    done, checks = _doctor(cli)
    assert done.returncode == 0
    assert checks["database"]["status"] == "pending"
    assert "migrates it when it next starts" in checks["database"]["detail"]
    assert checks["key"]["status"] == "skipped"
    cli.env["HALOSYNC_AUTO_MIGRATE"] = "false"
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert f"needs {head_revision()}" in checks["database"]["detail"]
    assert "halosync db upgrade" in checks["database"]["fix"]
    # Every other command refuses too, with the same fix, instead of migrating.
    refused = cli.in_process("workspace", "list")
    assert refused.returncode == 1
    assert "halosync db upgrade" in refused.stderr
    assert cli.in_process("db", "upgrade").returncode == 0
    assert _doctor(cli)[0].returncode == 0


def test_a_missing_key_file_is_a_problem(cli: Cli, tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    key_file.unlink()
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert checks["key"]["status"] == "problem"
    assert "cannot be read" in checks["key"]["detail"]
    assert f"Restore {key_file}" in checks["key"]["fix"]
    assert checks["workspace acme"]["status"] == "skipped"
    assert not key_file.exists(), "the doctor must not make a new key"


def test_a_key_that_cannot_decrypt_names_the_workspace(cli: Cli) -> None:
    cli.env["HALOSYNC_SECRET_KEYS"] = generate_key()
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert "cannot decrypt the Halo client secret of workspace(s) acme" in checks["key"]["detail"]
    assert "halosync keys rotate" in checks["key"]["fix"]
    assert checks["workspace acme"]["status"] == "skipped"


def test_an_unreachable_queue_is_a_problem(cli: Cli) -> None:
    cli.env["HALOSYNC_QUEUE"] = "redis"
    cli.env["HALOSYNC_REDIS_URL"] = "redis://:queue-pw-hidden@127.0.0.1:1/0"
    done, checks = _doctor(cli)
    assert done.returncode == 1
    assert checks["queue"]["status"] == "problem"
    assert (
        "Cannot reach the job queue (Redis redis://:***@127.0.0.1:1/0"
        in (checks["queue"]["detail"])
    )
    assert "HALOSYNC_REDIS_URL" in checks["queue"]["fix"]
    assert checks["workspace acme"]["status"] == "ok"
    assert "queue-pw-hidden" not in done.stdout


@pytest.mark.postgres
def test_the_search_index_is_reported_and_its_fix_makes_it(pg_empty_schema_url: str) -> None:
    """PostgreSQL: the doctor says whether the searches have their trigram indexes (made
    by migrations 0022 and 0027 when pg_trgm can be installed) and, when not, the SQL that
    makes them."""
    from sqlalchemy import text

    from halosync.ops.doctor import search_index_check
    from halosync.store.search import TRIGRAM_INDEX, TRIGRAM_INDEX_SQL

    database = Database(pg_empty_schema_url)
    try:
        database.migrate()
        assert search_index_check(database).detail == "the searches read their trigram indexes"
        with database.engine.begin() as connection:
            connection.execute(text(f"DROP INDEX {TRIGRAM_INDEX}"))
        missing = search_index_check(database)
        assert missing.status == "ok"  # slower at scale, not wrong
        assert "no trigram indexes" in missing.detail
        assert TRIGRAM_INDEX_SQL in missing.detail
        with database.engine.begin() as connection:
            # An operator's search_path has the schema pg_trgm lives in (public here).
            schema = connection.scalar(text("SELECT current_schema()"))
            connection.execute(text(f'SET LOCAL search_path = "{schema}", public'))
            connection.exec_driver_sql(TRIGRAM_INDEX_SQL)
        assert "read their trigram indexes" in search_index_check(database).detail
    finally:
        database.dispose()
