"""Driving the ``halosync`` command line (in this process, or in a subprocess where the process
is the subject) against a simulator on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from tests.cli_inprocess import home_env, run_cli
from tests.sync.world import CLIENT_ID, CLIENT_SECRET

HALOSYNC = [str(Path(sys.executable).parent / "halosync")]


@dataclass
class Cli:
    """Runs halosync commands with their own data directory and database: in a subprocess
    as a user would (``cli(...)``, ``cli.popen(...)``), or through the real entry point in
    this process (``cli.in_process``, ``cli.ok``, ``cli.json``, ``cli.connect``), which
    saves the ~0.5 s of CPU of a new interpreter and its imports per command. Keep the
    subprocess for what is about the process itself (a kill, a server, a terminal, the
    environment). Every output is kept in ``outputs``."""

    env: dict[str, str]
    simulator: Simulator | None = None
    url: str = ""
    outputs: list[str] = field(default_factory=list)

    @property
    def sim(self) -> Simulator:
        """The simulated HaloPSA this CLI talks to."""
        assert self.simulator is not None, "this Cli was made without a simulator"
        return self.simulator

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*HALOSYNC, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        self.outputs += [done.stdout, done.stderr]
        if check and done.returncode != 0:
            raise AssertionError(
                f"halosync {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def in_process(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """``run_app`` in this process, its exit code and output as a subprocess's would be."""
        code, out, err = run_cli(self.env, *args)
        self.outputs += [out, err]
        if check and code != 0:
            raise AssertionError(f"halosync {' '.join(args)} exited {code}:\n{out}\n{err}")
        return subprocess.CompletedProcess(["halosync", *args], code, out, err)

    def ok(self, *args: str) -> str:
        """The standard output of ``halosync ARGS`` run in this process, which must succeed."""
        return self.in_process(*args, check=True).stdout

    def json(self, *args: str) -> Any:
        """``halosync ARGS --json`` run in this process: its one JSON document."""
        return json.loads(self.ok(*args, "--json"))

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*HALOSYNC, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def connect(self, target: str = "licence") -> None:
        """Workspace ``acme`` connected to the simulator, its target ``target``."""
        self.ok("workspace", "create", "acme")
        self.ok(
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


def cli_environment(tmp_path: Path, **env: str) -> dict[str, str]:
    """A fresh HOME, data directory and SQLite database under ``tmp_path``; no other
    ``HALOSYNC_`` variable from the outside leaks in."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HALOSYNC_") and key not in ("COLUMNS",)
    }
    environment.update(
        {
            "HOME": str(tmp_path / "home"),
            **home_env(tmp_path),
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "COLUMNS": "200",
            **env,
        }
    )
    return environment


@contextmanager
def cli_against_simulator(tmp_path: Path, seed: dict[str, Any], **env: str) -> Iterator[Cli]:
    """A simulator on a free local port and a CLI environment pointing at it."""
    sim = create_app(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))])
    )
    sim.state.seed(seed)
    with serve_in_thread(sim) as url:
        yield Cli(cli_environment(tmp_path, **env), simulator=sim, url=url)


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
