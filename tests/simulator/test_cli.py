"""``halosync simulator`` as a subprocess on a real port (the command-line contract)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

HALOSYNC = str(Path(sys.executable).with_name("halosync"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(*args: str) -> Iterator[tuple[str, str]]:
    """Start the simulator; yield its base URL and what it printed before serving."""
    port = free_port()
    process = subprocess.Popen(
        [HALOSYNC, "simulator", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    printed: list[str] = []
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise AssertionError("simulator exited early:\n" + "".join(printed))
            printed.append(line)
            # The port is taken (and listening) before the banner ends with this line.
            if "Press Ctrl-C to stop." in line:
                break
        yield base_url, "".join(printed)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def get_token(base_url: str, client_id: str, secret: str, scope: str, **params: str) -> str:
    response = httpx2.post(
        f"{base_url}/auth/token",
        params=params,
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def test_default_application_and_demo_data() -> None:
    with running() as (base_url, printed):
        client_id = re.search(r"client id: (\S+)", printed)
        secret = re.search(r"client secret: (\S+)", printed)
        scopes = re.search(r"scopes: (.+)", printed)
        assert client_id, printed
        assert secret, printed
        assert scopes, printed
        assert f"{base_url}/api" in printed
        assert "all" not in scopes.group(1).split()
        access = get_token(base_url, client_id.group(1), secret.group(1), scopes.group(1))
        headers = {"Authorization": f"Bearer {access}"}
        clients = httpx2.get(f"{base_url}/api/Client", headers=headers).json()
        assert clients["record_count"] > 0
        invoices = httpx2.get(f"{base_url}/api/RecurringInvoice", headers=headers).json()
        assert invoices["invoices"]
        refused = httpx2.post(f"{base_url}/api/Client", json=[{"name": "X"}], headers=headers)
        assert refused.status_code == 403


def test_apps_tenant_rate_limit_and_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"clients": [{"id": 7, "name": "Seeded Ltd"}]}))
    with running(
        "--app",
        "reader:reader-secret:read:customers",
        "--app",
        "writer:writer-secret:edit:customers,read:items",
        "--tenant",
        "acme",
        "--rate-limit",
        "4",
        "--seed",
        str(seed),
    ) as (base_url, printed):
        assert "reader-secret" not in printed
        assert "writer-secret" not in printed
        no_tenant = httpx2.post(
            f"{base_url}/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "reader",
                "client_secret": "reader-secret",
                "scope": "read:customers",
            },
        )
        assert no_tenant.status_code == 500
        access = get_token(base_url, "writer", "writer-secret", "edit:customers", tenant="acme")
        headers = {"Authorization": f"Bearer {access}"}
        body = httpx2.get(f"{base_url}/api/Client", headers=headers).json()
        assert [row["name"] for row in body["clients"]] == ["Seeded Ltd"]
        assert httpx2.get(f"{base_url}/api/Client/7", headers=headers).status_code == 200
        limited = httpx2.get(f"{base_url}/api/Client", headers=headers)
        assert limited.status_code == 429
        assert limited.text == "Rate Limit Reached - 4 Requests per rolling 5 minute window"


def test_rate_window_retry_after_and_detail_permission_options() -> None:
    with running(
        "--app",
        "reader:reader-secret:read:items",
        "--rate-limit",
        "2",
        "--rate-window",
        "60",
        "--retry-after",
        "86400",
        "--detail-permission-status",
        "401",
    ) as (base_url, printed):
        assert "rolling 60 s window" in printed
        access = get_token(base_url, "reader", "reader-secret", "read:items")
        headers = {"Authorization": f"Bearer {access}"}
        assert httpx2.get(f"{base_url}/api/Client/1", headers=headers).status_code == 401
        limited = httpx2.get(f"{base_url}/api/Item", headers=headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "86400"
        assert limited.text == "Rate Limit Reached - 2 Requests per rolling 1 minute window"
        config = httpx2.get(f"{base_url}/_simulator/config").json()
        assert config["rate_window_seconds"] == 60
        assert config["detail_permission_status"] == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--app", "only-id:hidden-secret-value"], "CLIENT_ID:CLIENT_SECRET:SCOPE"),
        (["--app", "id:hidden-secret-value:read:nothing"], "unknown scope(s) read:nothing"),
        (["--seed", "/nonexistent/seed.json"], "/nonexistent/seed.json does not exist"),
        (["--rate-limit", "0"], "--rate-limit must be at least 1"),
        (["--rate-window", "0"], "--rate-window must be positive"),
        (["--retry-after", "soon"], "--retry-after must be a whole number of seconds or 'auto'"),
        (["--detail-permission-status", "500"], "--detail-permission-status must be 401 or 403"),
    ],
)
def test_bad_options_fail_clearly(args: list[str], message: str) -> None:
    result = subprocess.run(
        [HALOSYNC, "simulator", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "hidden-secret-value" not in result.stderr + result.stdout
