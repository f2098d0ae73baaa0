"""``halosync connection ...`` end to end against the simulator on a real port.

Also the secret check: the client secret appears in no CLI output, no log line and no
error, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread
from tests.cli_inprocess import run_cli

CLIENT_ID = "7e6d5c4b-3a29-4817-9654-3210fedcba98"
SECRET = "c0ffee00-1234-4abc-9def-0123456789ab-feedface-5678-4cde-8f01-23456789abcd"
LIMITED_ID = "limited-app"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_app(
        SimulatorConfig(
            applications=[
                ApiApplication(CLIENT_ID, SECRET, ("all",)),
                ApiApplication(LIMITED_ID, SECRET, ("read:customers",)),
            ]
        )
    )
    app.state.seed(generate_demo_seed(clients=3))
    with serve_in_thread(app) as url:
        yield url


class Cli:
    """Runs the CLI's real entry point (``run_app``) in-process; ``real_process`` for one
    true subprocess run."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = {
            "HALOSYNC_DATA_DIR": str(tmp_path),
            "HALOSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'halosync.db'}",
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_LOG_FORMAT": "json",
            "HALOSYNC_LOG_LEVEL": "debug",
        }
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> Result:
        code, out, err = run_cli(self.env, *args)
        self.outputs += [out, err]
        return Result(code, out, err)

    def real_process(self, *args: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-c", "from halosync.cli import main; main()", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.outputs += [done.stdout, done.stderr]
        return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def test_connection_commands_end_to_end(base_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    assert cli("workspace", "create", "acme").returncode == 0

    refused = cli(
        "connection", "set", "--workspace", "acme", "--server", base_url,
        "--client-id", LIMITED_ID, "--client-secret", SECRET,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Invalid connection configuration." in refused.stderr
    assert "Software Licensing / Subscriptions" in refused.stderr
    assert "Items (US) / Assets (UK)" in refused.stderr

    saved = cli(
        "connection", "set", "--workspace", "acme", "--server", base_url + "/",
        "--client-id", CLIENT_ID, "--client-secret", SECRET, "--tenant", "Not set",
        "--target", "invoice_line",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "Test is successful." in saved.stdout

    tested = cli.real_process("connection", "test", "--workspace", "acme")
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.strip() == "Test is successful."

    as_json = cli("connection", "test", "--workspace", "acme", "--json")
    assert json.loads(as_json.stdout)["success"] is True

    shown = cli("connection", "show", "--workspace", "acme", "--json")
    document = json.loads(shown.stdout)
    assert document["client_secret"] == "********"
    assert document["target"] == "invoice_line"
    assert document["last_successful_test_at"]
    assert "********" in cli("connection", "show").stdout

    # A stored connection whose secret Halo no longer accepts: test fails, exit non-zero.
    stale = cli(
        "connection", "set", "--workspace", "acme", "--server", base_url,
        "--client-id", "unknown-app", "--client-secret", SECRET, "--no-test",
    )  # fmt: skip
    assert stale.returncode == 0, stale.stderr
    failed = cli("connection", "test", "--workspace", "acme")
    assert failed.returncode == 1
    assert "Test is not successful." in failed.stderr
    failed_json = cli("connection", "test", "--json")
    assert failed_json.returncode == 1
    assert json.loads(failed_json.stdout)["success"] is False

    reset = cli("connection", "reset", "--workspace", "acme", "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["connection_removed"] is True
    missing = cli("connection", "show", "--workspace", "acme")
    assert missing.returncode == 1
    assert "has no Halo connection" in missing.stderr

    everything = "\n".join(cli.outputs)
    assert "halo_token_issued" in everything  # the logs were captured too
    assert SECRET not in everything
    assert SECRET[:18] not in everything


def test_connection_set_keeps_the_stored_secret_only_for_the_same_place(
    base_url: str, tmp_path: Path
) -> None:
    """Without --client-secret the stored secret is used (same server and client ID only)."""
    cli = Cli(tmp_path)
    assert cli("workspace", "create", "acme").returncode == 0
    first = ("connection", "set", "--server", base_url, "--client-id", CLIENT_ID)
    assert cli(*first, "--client-secret", SECRET).returncode == 0
    again = cli(*first, "--target", "invoice_line")
    assert again.returncode == 0, again.stderr
    assert "Test is successful." in again.stdout
    moved = cli(
        "connection", "set", "--server", "http://127.0.0.2:9", "--client-id", CLIENT_ID,
    )  # fmt: skip
    assert moved.returncode != 0
    assert "Enter the client secret: the server address changed" in moved.stderr
    shown = json.loads(cli("connection", "show", "--json").stdout)
    assert shown["server_url"] == base_url
    assert shown["target"] == "invoice_line"
    assert all(SECRET not in output for output in cli.outputs)
