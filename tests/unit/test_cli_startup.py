"""Start-up stays light: ``halosync --help`` imports none of the commands' dependencies,
``halosync logs`` only its own, and the lazy command table matches the commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from halosync.cli.registry import COMMANDS, command_modules
from tests.cli_inprocess import home_env

HEAVY = (
    "alembic",
    "sqlalchemy",
    "huey",
    "redis",
    "uvicorn",
    "fastapi",
    "starlette",
    "httpx2",
    "cryptography",
    "structlog",
    "pydantic_settings",
    "halosync.simulator",
    "halosync.demo",
    "halosync.store",
    "halosync.sync",
    "halosync.jobs",
    "halosync.halopsa",
    "halosync.web",
)
_RUN = """
import json, sys
sys.argv = ["halosync", *json.loads(sys.argv[1])]
{preload}
from halosync.cli import main
try:
    main()
except SystemExit:
    pass
with open({out!r}, "w") as handle:
    json.dump(sorted(sys.modules), handle)
"""


def _run(
    tmp_path: Path, *args: str, preload: str = "", env: dict[str, str] | None = None
) -> tuple[str, list[str]]:
    """``halosync ARGS`` in a fresh interpreter: its stdout and the modules it imported."""
    out = tmp_path / "modules.json"
    code = _RUN.format(preload=preload, out=str(out))
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        env={**os.environ, "TERMINAL_WIDTH": "100", **home_env(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr
    modules: list[str] = json.loads(out.read_text(encoding="utf-8"))
    return done.stdout, modules


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names)]


def test_help_imports_no_command_and_none_of_their_dependencies(tmp_path: Path) -> None:
    shown, modules = _run(tmp_path, "--help")
    assert "Keeps HaloPSA billing in step" in shown
    assert _loaded(modules, HEAVY) == []
    commands = [m for m in modules if m.startswith("halosync.cli.")]
    assert sorted(commands) == ["halosync.cli.app", "halosync.cli.registry"]


def test_help_lists_every_command_as_the_commands_themselves_would(tmp_path: Path) -> None:
    lazy, _ = _run(tmp_path, "--help")
    preload = "\n".join(f"import halosync.cli.{module}" for module in command_modules())
    eager, modules = _run(tmp_path, "--help", preload=preload)
    assert "halosync.simulator" in modules  # the commands really were loaded
    assert lazy == eager
    bare, _ = _run(tmp_path)
    assert bare.rstrip("\n") == lazy.rstrip("\n")  # click adds a blank line without --help


def test_logs_loads_its_own_module_and_no_alembic(tmp_path: Path) -> None:
    _run(tmp_path, "workspace", "create", "acme")  # creates and migrates the database
    shown, modules = _run(tmp_path, "logs")
    assert "Workspace acme: 0 entries" in shown
    # structlog (and the rich it loads) comes with the first line logged; logs logs none.
    # It reads with SQLAlchemy Core: neither the ORM nor the models are declared.
    others: tuple[str, ...] = ("alembic", "huey", "redis", "uvicorn", "fastapi", "httpx2")
    others += ("cryptography", "structlog", "rich", "sqlalchemy.orm", "halosync.store.models")
    assert _loaded(modules, others) == []
    assert _loaded(modules, ("halosync.simulator", "halosync.demo", "halosync.halopsa")) == []
    commands = {m for m in modules if m.startswith("halosync.cli.")}
    assert commands == {
        "halosync.cli.app",
        "halosync.cli.registry",
        "halosync.cli.common",
        "halosync.cli.logs",
    }


_DESCRIBE = """
import json, sys
import typer
from halosync.cli.app import app
from halosync.cli.registry import command_modules
# Imported as the eager CLI did (alphabetically), whose --help order the table keeps.
for module in sorted(command_modules()):
    __import__(f"halosync.cli.{module}")
groups = {info.name: info.typer_instance for info in app.registered_groups}
built = typer.main.get_command(app)
described = []
for name, command in built.commands.items():
    first = (command.short_help or command.help or "").split("\\n\\n")[0]
    if name in groups:
        infos = groups[name].registered_commands
        defined = {i.callback.__module__ for i in infos if i.callback is not None}
    else:
        defined = {command.callback.__module__}
    modules = sorted(m.removeprefix("halosync.cli.") for m in defined)
    described.append([name, " ".join(first.split()), modules])
print(json.dumps(described))
"""


def test_the_command_table_names_each_commands_modules_and_help() -> None:
    """The table in halosync.cli.registry says what loading every module says (in a fresh
    interpreter: the order depends on the order the modules were imported in)."""
    done = subprocess.run(
        [sys.executable, "-c", _DESCRIBE], capture_output=True, text=True, timeout=120, check=True
    )
    described = json.loads(done.stdout)
    table = [[name, entry.help, sorted(entry.modules)] for name, entry in COMMANDS.items()]
    assert table == described
