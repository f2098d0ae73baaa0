"""Which module defines each top-level command, and the line ``halosync --help`` shows for it.

A command's module (and so its dependencies: SQLAlchemy, Alembic, huey, uvicorn, the
simulator, the demo) is imported only when that command runs; ``halosync --help`` lists
the commands from here without importing any of them. ``tests/unit/test_cli_startup.py``
keeps this table in step with the modules (same names, order and help lines).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import typer
from typer import _click as click  # typer vendors click; its types are these, not click's
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class CommandEntry:
    """A top-level command: the ``halosync.cli`` modules that build it, its help line."""

    modules: tuple[str, ...]
    help: str


def _entry(*modules: str, help: str) -> CommandEntry:
    return CommandEntry(modules, help)


# In the order ``--help`` lists them (typer lists commands first, then groups).
COMMANDS: dict[str, CommandEntry] = {
    "demo": _entry(
        "demo",
        help="Start the web UI, the job consumer and a seeded HaloPSA simulator on SQLite.",
    ),
    "doctor": _entry(
        "doctor",
        help="Check what halosync needs and print what to fix; exit 1 when anything is wrong.",
    ),
    "import": _entry(
        "imports",
        help="Import accounts, services and subscriptions; a file with any bad row changes "
        "nothing.",
    ),
    "logs": _entry("logs", help="Show the last 30 days of log entries, newest first."),
    "runs": _entry("runs", help="List sync runs: kind, trigger, status, counts, when."),
    "reconcile": _entry(
        "reconcile",
        help="Per account × service: vendor, ruled, ledger and Halo quantities; drift flagged, "
        "the rule that explains a difference named, excluded pairs shown with their reason.",
    ),
    "serve": _entry(
        "serve", help="Serve halosync; with the embedded queue nothing else needs to run."
    ),
    "simulator": _entry("simulator", help="Run the HaloPSA simulator until interrupted."),
    "version": _entry("version", help="Print halosync's version."),
    "worker": _entry(
        "worker",
        help="Execute queued syncs and enqueue scheduled ones (HALOSYNC_QUEUE=redis for many "
        "hosts).",
    ),
    "scheduler": _entry(
        "worker",
        help="Only tick: enqueue scheduled runs, reap dead runs, prune old logs; execute nothing.",
    ),
    "connection": _entry(
        "connection", help="Connect a workspace to HaloPSA: set, test, show, reset."
    ),
    "db": _entry("db", help="The database: upgrade its schema, show its state, back it up."),
    "source": _entry("imports", help="Plug-in usage sources."),
    "keys": _entry("keys", help="Manage the keys that encrypt stored secrets."),
    "map": _entry(
        "mapping", help="Map vendor accounts to Halo clients and services to Halo items."
    ),
    "review": _entry(
        "review",
        help="Changes held for review before they reach HaloPSA: list, approve, reject, policy.",
    ),
    "rules": _entry(
        "rules",
        help="Quantity rules: minimum, free, ceiling, rounding, terms, prices, exclusions.",
    ),
    "schedule": _entry("schedule", help="Show or change when syncs run by themselves (UTC)."),
    "settings": _entry("settings_cmd", help="Show and change a workspace's sync settings."),
    "setup": _entry("settings_cmd", help="Finish a workspace's setup."),
    "sync": _entry(
        "sync",
        "sync_now",
        help="Run a sync now: customers (pull from Halo) or usage (push counts to Halo).",
    ),
    "token": _entry("tokens", help="Manage REST API tokens of a workspace."),
    "user": _entry("users", help="Web UI users and their roles per workspace."),
    "workspace": _entry("workspace", help="Create and list workspaces."),
}


def command_modules() -> tuple[str, ...]:
    """Every ``halosync.cli`` module that defines a command, each once."""
    return tuple(dict.fromkeys(module for entry in COMMANDS.values() for module in entry.modules))


class LazyGroup(TyperGroup):
    """The root command group: a command's module is imported when the command is looked up
    to run, and ``--help`` lists :data:`COMMANDS` without importing any of them.

    ``app`` is the root :class:`typer.Typer` the modules register their commands on.
    """

    app: typer.Typer | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The registry's commands, then any registered without an entry."""
        return list(dict.fromkeys([*COMMANDS, *super().list_commands(ctx)]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported first; while listing help, a stand-in."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            if self._listing:
                return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)
            self.load(cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            # Also a command built with this group because its module was imported
            # before (the same process ran another command): it was never loaded here.
            _unwrap_help(command)
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The root help, listing commands from the registry."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def load(self, cmd_name: str) -> None:
        """Import the modules of ``cmd_name`` and take the commands they registered."""
        import importlib

        for module in COMMANDS[cmd_name].modules:
            importlib.import_module(f"halosync.cli.{module}")
        assert LazyGroup.app is not None, "the root Typer app sets LazyGroup.app"
        built = typer.main.get_command(LazyGroup.app)
        assert isinstance(built, TyperGroup)
        for name, command in built.commands.items():
            self.commands.setdefault(name, command)


def _unwrap_help(command: click.Command) -> None:
    """Put each paragraph of ``command``'s help (and its subcommands') on one line, for the
    help to wrap to the terminal: typer keeps a paragraph's line breaks, so a docstring
    wrapped at 88 columns broke again on an 80-column terminal ("creates the first admin
    and" / "prints the URL"). A paragraph that starts with click's ``\\b`` keeps its lines.
    Unwrapping twice changes nothing."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(
            p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
            for p in paragraphs
        )
    for child in getattr(command, "commands", {}).values():
        _unwrap_help(child)
