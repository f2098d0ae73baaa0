"""``halosync version``."""

from __future__ import annotations

from importlib.metadata import version as package_version

import typer

from halosync.cli.app import app


@app.command("version")
def show_version() -> None:
    """Print halosync's version."""
    typer.echo(package_version("halosync"))
