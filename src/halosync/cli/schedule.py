"""``halosync schedule show|set``: when a workspace's customers pull and usage push run."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from halosync.cli.app import app, echo, emit_json
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.domain.schedule import Schedule, parse_month_day, parse_time_of_day
from halosync.errors import ValidationFailedError
from halosync.jobs.schedules import parse_kind
from halosync.jobs.service import get_schedules, set_schedule
from halosync.store.base import utcnow

schedule_app = typer.Typer(
    help="Show or change when syncs run by themselves (UTC).", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")


def _hhmm(value: str, option: str) -> tuple[int, int]:
    found = parse_time_of_day(value)
    if found is None:
        raise ValidationFailedError(
            f"{option} {value!r} is not a time.", fix=f"Write {option} HH:MM (UTC), e.g. 18:00."
        )
    return found


def _monthly_day(value: str) -> int | Literal["last"]:
    found = parse_month_day(value)
    if found is None:
        raise ValidationFailedError(
            f"--monthly {value!r} is not a day.", fix="Use a day from 1 to 28, or 'last'."
        )
    return found


@schedule_app.command("show")
def show(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Both schedules of the workspace and their next run."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    now = utcnow()
    with database.session() as session:
        schedules = get_schedules(session, ws.id)
    if as_json:
        emit_json({"workspace": ws.name, "schedules": [s.to_dict(now) for s in schedules.values()]})
        return
    for setting in schedules.values():
        upcoming = setting.next_run(now)
        state = "default" if setting.is_default else ("on" if setting.enabled else "off")
        if upcoming is not None:
            when = upcoming.strftime("%Y-%m-%d %H:%M UTC")
        elif setting.enabled:
            when = "none until the workspace's setup is finished and HaloPSA is connected"
        else:
            when = "never (off)"
        echo(f"{setting.kind:<10} {setting.schedule.describe():<40} ({state}); next run {when}")


@schedule_app.command("set")
def set_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help="customers or usage.")],
    workspace: WorkspaceOption = None,
    daily: Annotated[str | None, typer.Option("--daily", help="Every day at HH:MM UTC.")] = None,
    monthly: Annotated[
        str | None, typer.Option("--monthly", help="Every month on day N (1-28) or 'last'.")
    ] = None,
    at: Annotated[str, typer.Option("--at", help="Time of a monthly run, HH:MM UTC.")] = "00:00",
    disable: Annotated[
        bool, typer.Option("--disable", help="Keep the schedule but stop automatic runs.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a sync daily at a time, or monthly on a day, in UTC."""
    sync_kind = parse_kind(kind)
    if (daily is None) == (monthly is None):
        raise ValidationFailedError(
            "Say either --daily HH:MM or --monthly N|last [--at HH:MM].",
            fix="Example: halosync schedule set --kind usage --monthly last --at 18:00",
        )
    if daily is not None:
        schedule = Schedule.daily(*_hhmm(daily, "--daily"))
    else:
        day = _monthly_day(monthly or "")
        hour, minute = _hhmm(at, "--at")
        schedule = Schedule.monthly(day, hour, minute)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    now = utcnow()
    with database.session() as session:
        saved = set_schedule(session, ws.id, sync_kind, schedule, enabled=not disable, now=now)
    if as_json:
        emit_json({"workspace": ws.name, **saved.to_dict(now)})
        return
    upcoming = saved.next_run(now)
    if upcoming is not None:
        then = f"; next run {upcoming:%Y-%m-%d %H:%M} UTC."
    elif saved.enabled:
        then = "; it runs once the workspace's setup is finished and HaloPSA is connected."
    else:
        then = " (disabled)."
    echo(f"{sync_kind} sync of workspace {ws.name}: {schedule.describe()}{then}")
