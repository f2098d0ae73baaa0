"""``halosync doctor``: check settings, database, key, queue and every Halo connection."""

from __future__ import annotations

import typer

from halosync.cli.app import SETTINGS_PROBLEM_KEY, CliState, app, echo, emit_json
from halosync.cli.common import JsonOption, WorkspaceOption


@app.command("doctor")
def doctor(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Check what halosync needs and print what to fix; exit 1 when anything is wrong.

    Settings, the database (reachable, schema current), the encryption key (present,
    decrypts every stored secret), the job queue, and each workspace's Halo connection
    (Test Connection). Creates and migrates nothing.
    """
    import asyncio

    from halosync.ops.doctor import render, run_doctor

    root = ctx.find_root()
    settings = root.obj.settings if isinstance(root.obj, CliState) else None
    report = asyncio.run(
        run_doctor(
            settings, settings_problem=root.meta.get(SETTINGS_PROBLEM_KEY), workspace=workspace
        )
    )
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in render(report.checks):
            echo(line)
        problems = sum(1 for check in report.checks if not check.ok)
        echo("All checks passed." if report.ok else f"{problems} problem(s) found: fix them above.")
    if not report.ok:
        raise typer.Exit(1)
