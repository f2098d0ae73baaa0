"""The zero-config default's first start says where it put the data directory, the database
and the encryption key, once, on stderr; every later command is as quiet as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli


@pytest.mark.parametrize("command", [("workspace", "create", "acme"), ("db", "upgrade")])
def test_the_first_command_says_where_everything_went_and_the_next_is_quiet(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # The default data directory (XDG_DATA_HOME/halosync), made by the first command.
    data_dir = tmp_path / "fresh" / "halosync"
    env = {"HALOSYNC_DATA_DIR": None, "XDG_DATA_HOME": str(tmp_path / "fresh")}
    code, _, err = run_cli(env, *command)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    assert str(data_dir) in lines[0]
    assert "halosync.db" in lines[0]
    assert "secret.key" in lines[0]
    # It was made then, as said, not left for the first secret to make.
    assert (data_dir / "secret.key").is_file()
    code, _, err = run_cli(env, "workspace", "list")
    assert (code, err) == (0, "")


def test_keys_from_the_environment_are_not_said_to_be_in_a_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "halosync"
    env = {
        "HALOSYNC_DATA_DIR": None,
        "XDG_DATA_HOME": str(tmp_path),
        "HALOSYNC_SECRET_KEYS": "bXgcmBh4ZqZpYDY2UzpYpxfYHqzXBHPLxn2uVpbgGwY=",
    }
    code, _, err = run_cli(env, "workspace", "list")
    assert code == 0, err
    assert str(data_dir) in err
    assert "halosync.db" in err
    assert "secret.key" not in err
    assert not (data_dir / "secret.key").exists()


def test_a_database_the_operator_named_is_not_announced(tmp_path: Path) -> None:
    env = {
        "HALOSYNC_DATA_DIR": str(tmp_path / "data"),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'theirs.db'}",
    }
    code, _, err = run_cli(env, "workspace", "list")
    assert (code, err) == (0, "")
