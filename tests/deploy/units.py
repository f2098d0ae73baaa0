"""The shipped systemd units and settings file, read the way systemd reads them."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = ROOT / "deploy" / "halosync.env.example"
INSTALLED_HALOSYNC = "/opt/halosync/.venv/bin/halosync"
HALOSYNC = str(Path(sys.executable).parent / "halosync")


def unit_values(unit: str, key: str) -> list[str]:
    """Every ``key=value`` of the unit file, in order."""
    values = []
    for line in (UNITS / unit).read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            values.append(value.strip())
    return values


def exec_start(unit: str) -> list[str]:
    """The unit's command line, with this checkout's halosync in place of the installed one."""
    (command,) = unit_values(unit, "ExecStart")
    argv = shlex.split(command)
    assert argv[0] == INSTALLED_HALOSYNC, f"{unit} runs {argv[0]}"
    return [HALOSYNC, *argv[1:]]


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced (a free port instead of 8000)."""
    at = argv.index(option)
    return [*argv[: at + 1], value, *argv[at + 2 :]]


def env_example(*, commented: bool = True) -> dict[str, str]:
    """The variables of deploy/halosync.env.example (with ``commented``, the optional ones too)."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and not commented:
            continue
        text = line.lstrip("#").strip()
        name, sep, value = text.partition("=")
        if sep and name.startswith("HALOSYNC_") and " " not in name:
            found[name] = value
    return found
