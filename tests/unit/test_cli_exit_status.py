from __future__ import annotations

import subprocess
import sys
from pathlib import Path


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
