"""``sync usage`` and ``sync customers`` draw a progress bar on a terminal, and nothing else
changes: not with ``--json``, not when the output is piped."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.e2e.cli import HALOSYNC, Cli, cli_against_simulator, write_usage_csv
from tests.e2e.test_cli_sync import ROWS
from tests.sync.world import seed


def on_terminal(cli: Cli, *args: str) -> tuple[int, str]:
    """Run halosync with stdout and stderr on a pseudo-terminal; its exit code and output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*HALOSYNC, *args],
        env=cli.env | {"TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: every writer has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(controller)
    code = process.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_sees_progress_and_scripts_see_what_they_always_did(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3)) as cli:
        cli.connect("licence")
        cli.in_process("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS)))

        code, shown = on_terminal(cli, "sync", "customers")
        assert code == 0, shown
        assert "Reading HaloPSA: " in shown
        assert "Customers sync succeeded" in shown

        for ref, client in (("A1", "1"), ("A2", "2"), ("T3", "3")):
            cli.in_process("map", "account", ref, client)
        cli.in_process("map", "service", "MAIL", "1")
        cli.in_process("map", "service", "BKP", "2")

        # Halo's rate limit answers the licence read once: the terminal says until when.
        cli.sim.state.configure({"retry_after": 2})
        cli.sim.state.faults.inject("rate_limit", method="GET", path="/api/softwarelicence")
        code, shown = on_terminal(cli, "sync", "usage")
        assert code == 0, shown
        assert "waiting for HaloPSA's rate limit until " in shown
        assert "Writing to HaloPSA: " in shown
        assert "Usage sync succeeded" in shown

        # --json on a terminal: the one JSON document and not a character more.
        code, shown = on_terminal(cli, "sync", "usage", "--json")
        assert code == 0, shown
        document = json.loads(shown.replace("\r\n", "\n"))
        assert document["counts"]["unchanged"] == 3
        code, shown = on_terminal(cli, "sync", "customers", "--json")
        assert code == 0, shown
        assert json.loads(shown.replace("\r\n", "\n"))["status"] == "succeeded"

        # Piped: the report as before, nothing on stderr.
        piped = cli("sync", "usage")
        assert piped.stderr == ""
        assert "HaloPSA:" not in piped.stdout
        assert piped.stdout.splitlines()[-1].startswith("Usage sync succeeded")
        piped = cli("sync", "customers")
        assert piped.stderr == ""
        assert piped.stdout.startswith("Customers sync succeeded")
