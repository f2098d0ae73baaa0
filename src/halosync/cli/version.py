"""``halosync version``."""

from __future__ import annotations

from importlib.metadata import version as package_version

from halosync.cli.app import app, echo


@app.command("version")
def show_version() -> None:
    """Print halosync's version."""
    echo(package_version("halosync"))
