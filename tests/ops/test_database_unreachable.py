"""A database halosync cannot connect to is one line on stderr from every command, as the
doctor says it: the URL (password hidden), the driver's reason, HALOSYNC_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_inprocess import home_env, run_cli

REFUSED = "postgresql+psycopg://halosync:db-pw-hidden@127.0.0.1:1/x"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (REFUSED, "refused"),
        (
            "postgresql+psycopg://operator_fixes_no_role@127.0.0.1:5432/test",
            "operator_fixes_no_role",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/operator_fixes_no_db",
            "operator_fixes_no_db",
        ),
    ],
)
@pytest.mark.parametrize("command", [("workspace", "list"), ("db", "status")])
def test_a_database_that_refuses_is_one_line_naming_the_setting(
    tmp_path: Path, url: str, reason: str, command: tuple[str, ...]
) -> None:
    env = {**home_env(tmp_path), "HALOSYNC_DATABASE_URL": url}
    code, out, err = run_cli(env, *command)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: Cannot reach the database at postgresql+psycopg://")
    assert reason in lines[0]
    assert "HALOSYNC_DATABASE_URL" in lines[0]
    assert "db-pw-hidden" not in err
