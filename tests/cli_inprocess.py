"""Running the ``halosync`` command line inside the test process: fast, and as a user runs it
(``run_app``: messages on stderr, exit status), with its own data directory and database."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import structlog
from typer.testing import CliRunner

from halosync.cli.app import run_app


def data_folder(home: Path) -> Path:
    """``home/data``, made: halosync makes only its default data directory by itself, one
    named by HALOSYNC_DATA_DIR must exist (as an operator's volume or StateDirectory does)."""
    folder = home / "data"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def home_env(home: Path) -> dict[str, str]:
    """A data directory (made) and SQLite database under ``home``."""
    return {
        "HALOSYNC_DATA_DIR": str(data_folder(home)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{home / 'halosync.db'}",
    }


def run_cli(env: Mapping[str, str | None], *args: str, stdin: str = "") -> tuple[int, str, str]:
    """``halosync ARGS`` with ``env`` (a variable None: unset) and ``stdin`` on standard
    input (not a terminal): exit status, stdout and stderr."""
    saved_argv = sys.argv
    # The CLI configures logging onto the runner's streams; restore it for later tests.
    saved_logging = structlog.get_config()
    code = 0
    with CliRunner().isolation(input=stdin, env=dict(env)) as streams:
        sys.argv = ["halosync", *args]
        try:
            run_app()
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        finally:
            sys.argv = saved_argv
            sys.stdout.flush()
            sys.stderr.flush()
            structlog.configure(**saved_logging)
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return code, out, err
