"""A database or key file other users may read is a problem the doctor names with the
chmod that fixes it; halosync itself never changes the mode of a file the operator made."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from tests.cli_inprocess import data_folder, run_cli


def _files_check(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(env, "doctor", "--json")
    assert out, err
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    return code, checks["files"]


def test_a_database_others_may_read_is_named_with_its_fix(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    database = folder / "halosync.db"
    database.touch()
    database.chmod(0o644)
    env = {
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{database}",
    }
    assert run_cli(env, "workspace", "list")[0] == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o644

    code, files = _files_check(env)
    assert (code, files["status"]) == (1, "problem"), files
    assert str(database) in files["detail"]
    assert f"chmod 600 {database}" in files["fix"]

    database.chmod(0o600)
    code, files = _files_check(env)
    assert (code, files["status"]) == (0, "ok"), files


def test_a_readable_file_in_a_closed_folder_is_not_exposed(tmp_path: Path) -> None:
    folder = tmp_path / "closed"
    folder.mkdir(mode=0o700)
    database = folder / "halosync.db"
    database.touch()
    database.chmod(0o644)
    env = {
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{database}",
    }
    assert run_cli(env, "workspace", "list")[0] == 0
    assert _files_check(env)[1]["status"] == "ok"


def test_a_session_key_others_may_read_is_named(tmp_path: Path) -> None:
    data_dir = data_folder(tmp_path)
    data_dir.chmod(0o755)
    session_key = data_dir / "session.key"
    session_key.write_text("00" * 32)
    session_key.chmod(0o644)
    code, files = _files_check({"HALOSYNC_DATA_DIR": str(data_dir)})
    assert (code, files["status"]) == (1, "problem"), files
    assert f"chmod 600 {session_key}" in files["fix"]
