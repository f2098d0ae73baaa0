"""A data directory halosync cannot create is one line naming HALOSYNC_DATA_DIR and the path."""

from __future__ import annotations

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
