"""``halosync serve`` as an operator runs it: a separate process on a real local port.

A client in the test process shares nothing with the server (not its event loop, not its
GIL), so what it measures is what a browser would see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.conftest import free_port


@contextmanager
def serving(
    folder: Path, database_url: str, *, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``halosync serve`` (web and embedded jobs) on ``database_url``; yield its URL."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "HALOSYNC_DATA_DIR": str(folder),
        "HALOSYNC_DATABASE_URL": database_url,
        "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
        "HALOSYNC_LOG_LEVEL": "warning",
        # A benchmark may run another checkout's code (PYTHONPATH) in this environment.
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        **(extra_env or {}),
    }
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "halosync", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(process, url, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"halosync serve exited: {log.read_text(errors='replace')}")
        try:
            if httpx2.get(f"{url}/ui/login", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"halosync serve did not answer: {log.read_text(errors='replace')}")
