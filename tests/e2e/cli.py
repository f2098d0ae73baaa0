"""Driving the ``halosync`` command line in a subprocess against a simulator on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from tests.sync.world import CLIENT_ID, CLIENT_SECRET

HALOSYNC = [str(Path(sys.executable).parent / "halosync")]


@dataclass
class Cli:
    """Runs halosync commands with their own data directory and database."""

    env: dict[str, str]
    sim: Simulator
    url: str

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*HALOSYNC, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"halosync {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*HALOSYNC, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def connect(self, target: str = "licence") -> None:
        self("workspace", "create", "acme")
        self(
            "connection",
            "set",
            "--server",
            self.url,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--target",
            target,
        )


@contextmanager
def cli_against_simulator(tmp_path: Path, seed: dict[str, Any], **env: str) -> Iterator[Cli]:
    """A simulator on a free local port and a CLI environment pointing at it."""
    sim = create_app(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))])
    )
    sim.state.seed(seed)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HALOSYNC_") and key not in ("COLUMNS",)
    }
    environment.update(
        {
            "HOME": str(tmp_path / "home"),
            "HALOSYNC_DATA_DIR": str(tmp_path / "data"),
            "HALOSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'halosync.db'}",
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "COLUMNS": "200",
            **env,
        }
    )
    with serve_in_thread(sim) as url:
        yield Cli(environment, sim, url)


def write_usage_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV import file in the contract's format."""
    header = [
        "account_ref",
        "account_name",
        "account_status",
        "billed",
        "service_ref",
        "service_name",
        "quantity",
        "start_date",
        "end_date",
        "billing_cycle",
        "term",
        "status",
        "cost_price",
        "customer_price",
    ]
    lines = [",".join(header)]
    for row in rows:
        values = {
            "start_date": "2024-01-01",
            "billing_cycle": "Monthly",
            "term": "Monthly",
            "billed": "true",
            "account_status": "active",
            **row,
        }
        lines.append(",".join(str(values.get(name, "")) for name in header))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
