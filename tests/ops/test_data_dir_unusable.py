"""The data directory: the default one (``$XDG_DATA_HOME/halosync``) is made on first use and
the first start says so; one named by HALOSYNC_DATA_DIR must exist, as must the folder of a
SQLite URL the operator names. A mistyped path must not start a second, empty halosync (a
new database and key), nor, in a container, put them outside the mounted volume."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli_inprocess import run_cli


def test_an_unusable_data_dir_names_the_setting_and_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / "data"
    env = {"HALOSYNC_DATA_DIR": str(data_dir)}
    code, out, err = run_cli(env, "workspace", "list")
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "HALOSYNC_DATA_DIR" in lines[0]
    assert str(data_dir) in lines[0]


def test_a_data_dir_under_proc_is_refused(tmp_path: Path) -> None:
    code, _, err = run_cli({"HALOSYNC_DATA_DIR": "/proc/halosync-x"}, "workspace", "list")
    assert code == 1
    assert err.startswith("error: ")
    assert "/proc/halosync-x" in err


def test_a_named_data_dir_that_does_not_exist_is_refused_and_nothing_made(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "halosnyc"  # the operator meant /var/lib/halosync
    code, out, err = run_cli({"HALOSYNC_DATA_DIR": str(data_dir)}, "workspace", "create", "x")
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1, err
    assert f"The data directory {data_dir} named by HALOSYNC_DATA_DIR does not exist." in err
    assert f"mkdir -m 700 -p {data_dir}" in err
    assert list(tmp_path.iterdir()) == []


def test_a_named_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "halosync"
    data_dir.write_text("")
    code, _, err = run_cli({"HALOSYNC_DATA_DIR": str(data_dir)}, "workspace", "list")
    assert code == 1
    assert f"The data directory {data_dir} named by HALOSYNC_DATA_DIR is not a folder." in err


def test_the_default_data_dir_is_made_owner_only_and_the_first_start_says_where(
    tmp_path: Path,
) -> None:
    env = {"HALOSYNC_DATA_DIR": None, "XDG_DATA_HOME": str(tmp_path / "share")}
    code, _, err = run_cli(env, "workspace", "create", "acme")
    assert code == 0, err
    data_dir = tmp_path / "share" / "halosync"
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert f"in {data_dir}" in err


def test_the_doctor_says_a_missing_named_data_dir_is_a_problem(tmp_path: Path) -> None:
    data_dir = tmp_path / "missing"
    code, out, _ = run_cli({"HALOSYNC_DATA_DIR": str(data_dir)}, "doctor", "--json")
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert code == 1
    assert checks["settings"]["status"] == "problem"
    assert str(data_dir) in checks["settings"]["detail"]
    assert "mkdir -m 700 -p" in checks["settings"]["fix"]
    assert "created on first use" not in out
    assert not data_dir.exists()
