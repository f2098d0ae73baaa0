"""``halosync connection ...`` end to end against the simulator on a real port.

Also the secret check: the client secret appears in no CLI output, no log line and no
error, whatever the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.simulator import (
    ApiApplication,
    Simulator,
    SimulatorConfig,
    create_app,
    generate_demo_seed,
)
from halosync.simulator.server import serve_in_thread
from tests.e2e.cli import Cli, cli_environment

CLIENT_ID = "7e6d5c4b-3a29-4817-9654-3210fedcba98"
SECRET = "c0ffee00-1234-4abc-9def-0123456789ab-feedface-5678-4cde-8f01-23456789abcd"
LIMITED_ID = "limited-app"


@pytest.fixture(scope="module")
def halo() -> Iterator[tuple[Simulator, str]]:
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
        yield app, url


def _cli(halo: tuple[Simulator, str], tmp_path: Path) -> tuple[Cli, str]:
    """The CLI with JSON debug logs (so every log line is checked too) and the server URL."""
    sim, base_url = halo
    env = cli_environment(tmp_path, HALOSYNC_LOG_FORMAT="json", HALOSYNC_LOG_LEVEL="debug")
    return Cli(env, simulator=sim, url=base_url), base_url


def test_connection_commands_end_to_end(halo: tuple[Simulator, str], tmp_path: Path) -> None:
    cli, base_url = _cli(halo, tmp_path)
    assert cli.in_process("workspace", "create", "acme").returncode == 0

    refused = cli.in_process(
        "connection", "set", "--workspace", "acme", "--server", base_url,
        "--client-id", LIMITED_ID, "--client-secret", SECRET,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Invalid connection configuration." in refused.stderr
    assert "Software Licensing / Subscriptions" in refused.stderr
    assert "Items (US) / Assets (UK)" in refused.stderr

    saved = cli.in_process(
        "connection", "set", "--workspace", "acme", "--server", base_url + "/",
        "--client-id", CLIENT_ID, "--client-secret", SECRET, "--tenant", "Not set",
        "--target", "invoice_line",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "Test is successful." in saved.stdout

    tested = cli("connection", "test", "--workspace", "acme", check=False)
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.strip() == "Test is successful."

    as_json = cli.in_process("connection", "test", "--workspace", "acme", "--json")
    assert json.loads(as_json.stdout)["success"] is True

    shown = cli.in_process("connection", "show", "--workspace", "acme", "--json")
    document = json.loads(shown.stdout)
    assert document["client_secret"] == "********"
    assert document["target"] == "invoice_line"
    assert document["last_successful_test_at"]
    assert "********" in cli.in_process("connection", "show").stdout

    # A stored connection whose secret Halo no longer accepts: test fails, exit non-zero.
    stale = cli.in_process(
        "connection", "set", "--workspace", "acme", "--server", base_url,
        "--client-id", "unknown-app", "--client-secret", SECRET, "--no-test",
    )  # fmt: skip
    assert stale.returncode == 0, stale.stderr
    failed = cli.in_process("connection", "test", "--workspace", "acme")
    assert failed.returncode == 1
    assert "Test is not successful." in failed.stderr
    failed_json = cli.in_process("connection", "test", "--json")
    assert failed_json.returncode == 1
    assert json.loads(failed_json.stdout)["success"] is False

    reset = cli.in_process("connection", "reset", "--workspace", "acme", "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["connection_removed"] is True
    missing = cli.in_process("connection", "show", "--workspace", "acme")
    assert missing.returncode == 1
    assert "has no Halo connection" in missing.stderr

    everything = "\n".join(cli.outputs)
    assert "halo_token_issued" in everything  # the logs were captured too
    assert SECRET not in everything
    assert SECRET[:18] not in everything


def test_connection_set_keeps_the_stored_secret_only_for_the_same_place(
    halo: tuple[Simulator, str], tmp_path: Path
) -> None:
    """Without --client-secret the stored secret is used (same server and client ID only)."""
    cli, base_url = _cli(halo, tmp_path)
    assert cli.in_process("workspace", "create", "acme").returncode == 0
    first = ("connection", "set", "--server", base_url, "--client-id", CLIENT_ID)
    assert cli.in_process(*first, "--client-secret", SECRET).returncode == 0
    again = cli.in_process(*first, "--target", "invoice_line")
    assert again.returncode == 0, again.stderr
    assert "Test is successful." in again.stdout
    moved = cli.in_process(
        "connection", "set", "--server", "http://127.0.0.2:9", "--client-id", CLIENT_ID,
    )  # fmt: skip
    assert moved.returncode != 0
    assert "Enter the client secret: the server address changed" in moved.stderr
    shown = json.loads(cli.in_process("connection", "show", "--json").stdout)
    assert shown["server_url"] == base_url
    assert shown["target"] == "invoice_line"
    assert all(SECRET not in output for output in cli.outputs)
