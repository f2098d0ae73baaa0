"""``halosync settings set|show``: what a usage sync writes (target, prices, adoption...)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.errors import ValidationFailedError
from halosync.setup.service import finish_setup
from halosync.sync.workspace_settings import (
    SyncSettingsChange,
    SyncSettingsView,
    pending_target_switch,
    price_mode_change_needs_confirmation,
    show_sync_settings,
    unconfirmed_target_switch,
    update_sync_settings,
    validate_change,
)

settings_app = typer.Typer(
    help="Show and change a workspace's sync settings.", no_args_is_help=True
)
app.add_typer(settings_app, name="settings")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValidationFailedError(f"{option} {value!r} is not valid.", fix="Use true or false.")


def _print(view: SyncSettingsView) -> None:
    """One setting a line, the values lined up, true and false as the options take them."""
    rows = {
        f"{key.replace('_', ' ').capitalize()}:": value for key, value in view.to_dict().items()
    }
    width = max(map(len, rows)) + 2
    for label, value in rows.items():
        echo(f"{label:<{width}}{str(value).lower() if isinstance(value, bool) else value}")


@settings_app.command("set")
def set_settings(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    prices: Annotated[
        str | None, typer.Option("--prices", help="off, totals or unit (from the next sync).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="licence or invoice_line.")] = None,
    adopt_existing_lines: Annotated[
        str | None,
        typer.Option(
            "--adopt-existing-lines",
            metavar="BOOL",
            help=(
                "true (the default): take over the one existing line of a mapped item on the "
                "mapped recurring invoice; false: only lines halosync adds."
            ),
        ),
    ] = None,
    cooldown_minutes: Annotated[
        int | None,
        typer.Option("--cooldown-minutes", help="Wait after a manual full sync (0 = none)."),
    ] = None,
    create_on_mapping: Annotated[
        str | None,
        typer.Option(
            "--create-licence-on-mapping", metavar="BOOL", help="Create licences on mapping."
        ),
    ] = None,
    snapshot_cancel_limit: Annotated[
        int | None,
        typer.Option(
            "--snapshot-cancel-limit",
            metavar="PERCENT",
            help="Share (0-100) of active subscriptions one `import --snapshot` may cancel "
            "without --allow-mass-cancel.",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Confirm a change of the price mode or of the target."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Change sync settings; a new price mode applies from the next sync.

    On a terminal a price-mode change asks for confirmation (or take --yes). A script
    that names --prices explicitly has chosen it: the change is made and announced.
    """
    change = SyncSettingsChange(
        price_mode=prices.strip().lower() if prices else None,
        target=target.strip().lower() if target else None,
        adopt_existing_lines=_bool(adopt_existing_lines, "--adopt-existing-lines"),
        cooldown_minutes=cooldown_minutes,
        create_licence_on_mapping=_bool(create_on_mapping, "--create-licence-on-mapping"),
        snapshot_cancel_limit_percent=snapshot_cancel_limit,
    )
    validate_change(change)
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    confirmed = yes
    needs_confirmation = price_mode_change_needs_confirmation(database, ws.id, change)
    if needs_confirmation and not yes and not sys.stdin.isatty():
        # Non-interactive: the explicit --prices is the confirmation (the CLI contract's
        # `settings set --prices MODE` must work in scripts); say what it means.
        confirmed = True
        echo(
            f"Price mode changes to {change.price_mode!r}: it applies from the next sync and "
            "does not rewrite what was already written to HaloPSA.",
            err=True,
        )
    elif needs_confirmation and not yes:
        confirmed = typer.confirm(
            f"Change the price mode to {change.price_mode!r}? It applies from the next sync "
            "and does not rewrite what was already written to HaloPSA."
        )
        if not confirmed:
            raise typer.Abort()
    switch = pending_target_switch(database, ws.id, change)
    if switch is not None and not yes:
        # Records written under the old target stay in HaloPSA, no longer updated: say so
        # and ask (a script passes --yes; without it nothing changes).
        if not sys.stdin.isatty():
            raise unconfirmed_target_switch(switch)
        if not typer.confirm(f"{switch.explanation()} Switch the target?"):
            raise typer.Abort()
        confirmed = True
    view = update_sync_settings(database, ws.id, change, confirmed=confirmed)
    if as_json:
        emit_json(view.to_dict())
    else:
        _print(view)


@settings_app.command("show")
def show(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Show the workspace's sync settings."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    view = show_sync_settings(database, ws.id)
    if as_json:
        emit_json(view.to_dict())
    else:
        _print(view)


setup_app = typer.Typer(help="Finish a workspace's setup.", no_args_is_help=True)
app.add_typer(setup_app, name="setup")


@setup_app.command("finish")
def finish(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """The setup wizard's Finish: automatic syncs start only after it.

    Refused (exit 1) with what blocks while a step's rule does not hold: a tested
    connection, no mapped account in Required or Response Error, a mapped service.
    """
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        finish_setup(session, ws.id)
    if as_json:
        emit_json({"workspace": ws.name, "setup_finished": True})
    else:
        echo(f"Setup of {ws.name} finished: automatic syncs run on its schedules.")
