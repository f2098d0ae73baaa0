"""The README's first command: the whole journey against the bundled simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_demo_runs_the_whole_journey_and_the_repeat_writes_nothing(
    tmp_path: Path, target: str
) -> None:
    env = {
        "HALOSYNC_DATA_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "halosync", "demo", "--once", "--port", "0", "--target", target],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Connect: Test is successful." in out
    pushed = re.search(r"Usage sync: succeeded: (\d+) created", out)
    assert pushed is not None, out
    assert int(pushed.group(1)) > 0
    assert "Repeat: 0 created, 0 updated" in out
    assert "0 failed" in out
    assert (tmp_path / "demo.db").exists()
    assert "Traceback" not in done.stderr
