"""The ``halosync`` command line. See ``../shared/cli-contract.md`` for the contract."""

from __future__ import annotations

import importlib

from halosync.cli.app import app, run_app

__all__ = ["app", "main"]

# Each module registers its topic's commands on the root app when imported.
COMMAND_MODULES = (
    "connection",
    "db",
    "demo",
    "doctor",
    "imports",
    "keys",
    "logs",
    "mapping",
    "reconcile",
    "review",
    "runs",
    "schedule",
    "serve",
    "settings_cmd",
    "simulator",
    "sync",
    "sync_now",
    "tokens",
    "users",
    "version",
    "worker",
    "workspace",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"halosync.cli.{_module}")


def main() -> None:
    """Console-script entry point."""
    run_app()
