"""`halosync demo` serves the web UI: the printed log-in works and the simulator answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.web.ui.world import csrf_of


def test_demo_prints_a_working_log_in_and_simulator(tmp_path: Path) -> None:
    env = {
        "HALOSYNC_DATA_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "COLUMNS": "200",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "halosync", "demo", "--port", "0", "--web-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        _check_demo(process)
    assert (tmp_path / "demo.db").exists()


def _check_demo(process: subprocess.Popen[str]) -> None:
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl+C to stop." in line:
                break
        out = "".join(lines)
        url = re.search(r"halosync web UI\s+(http://\S+)/ui", out)
        password = re.search(r"password\s+(\S+)", out)
        server = re.search(r"Server Address\s+(http://\S+)", out)
        client_id = re.search(r"Client ID\s+(\S+)", out)
        assert url, out
        assert password, out
        assert server, out
        assert client_id, out
        assert "admin@example.com" in out
        with httpx2.Client(base_url=url.group(1), follow_redirects=True, timeout=10) as web:
            token = csrf_of(web.get("/ui/login").text)
            home = web.post(
                "/ui/login",
                data={
                    "email": "admin@example.com",
                    "password": password.group(1),
                    "csrf_token": token,
                },
            )
            assert home.status_code == 200
            assert "Configure your HaloPSA integration" in home.text
            accounts = web.get(str(home.url).rstrip("/") + "/accounts").text
            assert "entries" in accounts
        token_url = server.group(1) + "/auth/token"
        assert httpx2.post(token_url, data={"grant_type": "client_credentials"}).status_code in (
            400,
            401,
        )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
