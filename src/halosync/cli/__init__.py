"""The ``halosync`` command line. See ``../shared/cli-contract.md`` for the contract.

Each command's module is imported only when the command runs: see
:mod:`halosync.cli.registry`.
"""

from __future__ import annotations

from halosync.cli.app import app, run_app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    run_app()
