"""The systemd units of deploy/ are valid for systemd and run real halosync commands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import typer.core
import typer.main

from halosync.cli import app
from halosync.settings import Settings
from tests.deploy.units import (
    ENV_EXAMPLE,
    HALOSYNC,
    INSTALLED_HALOSYNC,
    UNITS,
    env_example,
    exec_start,
)

SERVICES = [
    "halosync-migrate.service",
    "halosync-web.service",
    "halosync-worker@.service",
    "halosync-scheduler.service",
]


def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8")
        text = text.replace(INSTALLED_HALOSYNC, HALOSYNC)
        text = text.replace("/etc/halosync/halosync.env", str(ENV_EXAMPLE))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    # The target starts instances 1 and 2 of the worker template.
    for n in (1, 2):
        shutil.copy(
            tmp_path / "halosync-worker@.service", tmp_path / f"halosync-worker@{n}.service"
        )
    names = sorted(p.name for p in tmp_path.iterdir() if "@." not in p.name)
    done = subprocess.run(
        [analyze, "verify", *names],
        cwd=tmp_path,
        env={"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on warnings (an unknown key, a bad value): any output is a failure.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("unit", SERVICES)
def test_every_unit_runs_a_real_command_with_the_shared_settings(unit: str) -> None:
    # Parsed by the CLI itself (commands and options exist, values valid), not run.
    command = typer.main.get_command(app)
    args = exec_start(unit)[1:]
    while isinstance(command, typer.core.TyperGroup):
        name, args = args[0], args[1:]
        found = command.get_command(typer.Context(command), name)
        assert found is not None, f"{unit}: no command {name!r}"
        command = found
    command.make_context(command.name or "", list(args))
    text = (UNITS / unit).read_text(encoding="utf-8")
    assert "EnvironmentFile=/etc/halosync/halosync.env" in text
    assert "User=halosync" in text


def test_the_settings_file_names_only_real_settings() -> None:
    variables = env_example()
    fields = {f"HALOSYNC_{name.upper()}" for name in Settings.model_fields}
    assert set(variables) <= fields, set(variables) - fields
    assert variables["HALOSYNC_AUTO_MIGRATE"] == "false"
    assert variables["HALOSYNC_QUEUE"] == "redis"


def test_the_deploy_guide_names_every_setting() -> None:
    guide = (UNITS.parents[1] / "docs" / "deploy.md").read_text(encoding="utf-8")
    missing = []
    for name in Settings.model_fields:
        variable = f"HALOSYNC_{name.upper()}"
        short = variable.removeprefix("HALOSYNC_SMTP")
        if f"`{variable}`" not in guide and not (
            name.startswith("smtp_") and f"`{short}`" in guide
        ):
            missing.append(variable)
    assert missing == []
