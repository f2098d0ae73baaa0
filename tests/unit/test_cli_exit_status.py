from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli_inprocess import home_env, run_cli


def _halosync(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "halosync", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HALOSYNC_DATA_DIR": str(data_dir), "HOME": str(data_dir), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_user_errors_exit_non_zero_with_the_message_on_stderr(tmp_path: Path) -> None:
    done = _halosync("map", "account", "ACC-1", "7", data_dir=tmp_path)
    assert done.returncode == 1
    assert "There is no workspace yet" in done.stderr
    assert done.stdout == ""


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = _halosync("no-such-command", data_dir=tmp_path)
    assert done.returncode == 2
    assert "No such command" in done.stderr


def test_success_exits_0(tmp_path: Path) -> None:
    done = _halosync("workspace", "create", "Acme MSP", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_an_argument_that_is_not_utf8_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    # Python hands bytes that are not UTF-8 on the command line over as lone surrogates
    # (\udcff for 0xFF), which nothing can write: a database, a log, the terminal.
    env = home_env(tmp_path)
    for args, position, byte in (
        (("workspace", "create", "Acme\udcff"), 3, "FF"),
        (("sync", "usage", "--account", "\udce9t\udce9"), 4, "E9"),
    ):
        code, out, err = run_cli(env, *args)
        assert code == 2, err
        assert out == ""
        assert err == (
            f"error: argument {position} is not UTF-8 text (byte 0x{byte}); "
            "pass it as UTF-8 (check the terminal's or the script's encoding)\n"
        )
    assert "No workspaces yet" in run_cli(env, "workspace", "list")[1]
