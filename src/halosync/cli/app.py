"""The root ``halosync`` command and what every sub-command shares.

Sub-command modules (``halosync.cli.<topic>``) register themselves on :data:`app` when
imported; the root group imports a command's module only when that command runs
(:mod:`halosync.cli.registry`), so ``halosync --help`` loads none of them.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from halosync.cli.registry import LazyGroup
from halosync.domain.text import escaped, undecodable_byte
from halosync.errors import HalosyncError

if TYPE_CHECKING:
    from halosync.settings import Settings

SETTINGS_PROBLEM_KEY = "halosync.settings_problem"

app = typer.Typer(
    name="halosync",
    help="Keeps HaloPSA billing in step with a vendor's usage data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)
LazyGroup.app = app


@dataclass
class CliState:
    """What the root callback hands to every command through ``ctx.obj``."""

    settings: Settings


@app.callback()
def _root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="HALOSYNC_DATABASE_URL",
            help="SQLAlchemy URL of halosync's database (SQLite file or postgresql+psycopg://).",
        ),
    ] = None,
) -> None:
    # Imported here, not at the top: ``halosync --help`` never runs this callback, and
    # pydantic-settings and structlog are a good part of a start-up's CPU.
    from pydantic import ValidationError

    from halosync.logging import configure_logging
    from halosync.settings import Settings, describe_settings_error

    overrides: dict[str, Any] = {}
    if database_url:
        overrides["database_url"] = database_url
    try:
        settings = Settings(**overrides)
    except ValidationError as invalid:
        problem = describe_settings_error(invalid)
        if ctx.invoked_subcommand == "doctor":
            # The doctor reports it among its checks instead of stopping here.
            ctx.meta[SETTINGS_PROBLEM_KEY] = problem
            return
        raise HalosyncError(
            f"Invalid settings: {problem}.", fix="Correct these HALOSYNC_* environment variables."
        ) from None
    # A command prints its own results; progress events are for operators who ask for them.
    explicit_level = "HALOSYNC_LOG_LEVEL" in os.environ
    configure_logging(
        log_format=settings.log_format, level=settings.log_level if explicit_level else "warning"
    )
    ctx.obj = CliState(settings=settings)


def state(ctx: typer.Context) -> CliState:
    """The shared state of this invocation."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout (the ``--json`` contract)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print a line a person reads, its controls escaped (its own line breaks kept): text
    the database or HaloPSA holds (a name kept from before it was refused, with U+202E or
    a terminal escape) can neither reorder the line nor drive the terminal. A name that
    starts a line of a listing goes through :func:`name` too, so a line break in it cannot
    forge another line."""
    typer.echo(escaped(str(message), keep_line_breaks=True), err=err, nl=nl)


def name(text: object) -> str:
    """A stored name as a listing shows it: every control escaped, line breaks too."""
    return escaped(str(text))


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print a clear message on stderr and exit non-zero."""
    from halosync.logging import redact_text

    sys.stderr.write(f"error: {escaped(redact_text(message), keep_line_breaks=True)}\n")
    raise typer.Exit(code)


def _refuse_undecodable_arguments() -> None:
    # Bytes that are not UTF-8 reach Python as lone surrogates, which no database, log or
    # terminal can write: refused by their place before any command runs (a usage error).
    for position, argument in enumerate(sys.argv[1:], 1):
        byte = undecodable_byte(argument)
        if byte is not None:
            sys.stderr.write(
                f"error: argument {position} is not UTF-8 text (byte 0x{byte:02X}); pass it "
                "as UTF-8 (check the terminal's or the script's encoding)\n"
            )
            sys.exit(2)


def run_app() -> None:
    """Run the CLI, turning every user-facing error into a message and exit status 1."""
    _refuse_undecodable_arguments()
    try:
        # Without standalone mode click hands back a typer.Exit's code instead of exiting.
        outcome = app(standalone_mode=False)
        if isinstance(outcome, int) and outcome:
            sys.exit(outcome)
    except HalosyncError as error:
        from halosync.logging import redact_text

        sys.stderr.write(f"error: {escaped(redact_text(str(error)), keep_line_breaks=True)}\n")
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted.\n")
        sys.exit(130)
    except Exception as click_error:
        # click's own usage errors carry an exit code and know how to show themselves.
        show = getattr(click_error, "show", None)
        exit_code = getattr(click_error, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
