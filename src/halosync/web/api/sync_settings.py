"""``/settings``: target, price mode (confirmed), adoption, cooldown, retention, e-mail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from halosync.setup.service import SetupNotReadyError, finish_setup
from halosync.store.database import Database
from halosync.sync.preferences import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PreferencesChange,
    preference_problems,
    show_preferences,
)
from halosync.sync.workspace_settings import (
    SyncSettingsChange,
    pending_target_switch,
    price_mode_change_needs_confirmation,
    show_sync_settings,
    update_sync_settings,
)
from halosync.web.api.auth import Caller, current_caller, get_database, writer
from halosync.web.api.deps import PREFIX, ShortText
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["settings"], route_class=JsonBodyRoute)

PriceMode = Literal["off", "totals", "unit"]


class SettingsOut(BaseModel):
    """Everything that steers a workspace's syncs, logs and e-mails."""

    workspace: str
    target: Literal["licence", "invoice_line"]
    price_mode: PriceMode
    adopt_existing_lines: bool
    cooldown_minutes: int
    create_licence_on_mapping: bool
    snapshot_cancel_limit_percent: int = Field(
        description="A snapshot import may cancel at most this share (%) of the active "
        "subscriptions without allow_mass_cancel."
    )
    log_retention_days: int
    notify_email: str | None
    notify_on_success: bool
    notify_on_failure: bool


class SettingsPatch(BaseModel):
    """The settings to change; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    target: Literal["licence", "invoice_line"] | None = Field(
        default=None,
        description="Applies from the next sync. Once records were written under the "
        "current target, a switch needs confirm=true: they stay in HaloPSA, no longer updated.",
    )
    price_mode: PriceMode | None = Field(
        default=None, description="Applies from the next sync; a change needs confirm=true."
    )
    confirm: bool = Field(
        default=False,
        description="Confirms a change of the price mode, or a switch of the target once "
        "records were written under it.",
    )
    adopt_existing_lines: bool | None = None
    cooldown_minutes: int | None = Field(default=None, ge=0, le=10_080)
    create_licence_on_mapping: bool | None = None
    snapshot_cancel_limit_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="0 to 100: the share of active subscriptions one snapshot may cancel.",
    )
    log_retention_days: int | None = Field(
        default=None, ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS
    )
    notify_email: ShortText | None = Field(
        default=None, description="Where sync e-mails go; an empty string removes it."
    )
    notify_on_success: bool | None = None
    notify_on_failure: bool | None = None


def _settings_out(database: Database, workspace_id: int) -> SettingsOut:
    sync = show_sync_settings(database, workspace_id).to_dict()
    with database.session() as session:
        preferences = show_preferences(session, workspace_id).to_dict()
    return SettingsOut.model_validate(sync | preferences)


def _confirmation_text(before: str, after: str) -> str:
    if before == "off":
        what = f"Enabling prices ({after}) sends prices to HaloPSA"
    elif after == "off":
        what = "Disabling prices stops sending prices to HaloPSA; only quantities are sent"
    else:
        what = f"Switching prices from {before} to {after} changes the prices sent to HaloPSA"
    return (
        f"{what} from the next sync on; records already written are not rewritten. "
        "Nothing was changed."
    )


@router.get("/settings", response_model=SettingsOut, responses=ERROR_RESPONSES)
def get_settings(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """The workspace's settings."""
    return _settings_out(database, caller.workspace_id)


@router.patch("/settings", response_model=SettingsOut, responses=ERROR_RESPONSES)
def patch_settings(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    body: Annotated[SettingsPatch, Body()],
) -> Any:
    """Change settings; everything is checked before anything is written. A new price mode
    applies from the next sync and must be confirmed with ``"confirm": true``; so must a
    switch of the target once records were written under the current one."""
    sync_change = SyncSettingsChange(
        price_mode=body.price_mode,
        target=body.target,
        adopt_existing_lines=body.adopt_existing_lines,
        cooldown_minutes=body.cooldown_minutes,
        create_licence_on_mapping=body.create_licence_on_mapping,
        snapshot_cancel_limit_percent=body.snapshot_cancel_limit_percent,
    )
    email = body.notify_email
    preferences = PreferencesChange(
        log_retention_days=body.log_retention_days,
        notify_email=email or None,
        clear_email=email == "",
        notify_on_success=body.notify_on_success,
        notify_on_failure=body.notify_on_failure,
    )
    problems = [
        ErrorItem(location=f"$.{field}", message=what)
        for field, what in preference_problems(preferences)
    ]
    if problems:
        raise ApiError(422, "The settings have errors; nothing was changed.", errors=problems)
    if (
        price_mode_change_needs_confirmation(database, caller.workspace_id, sync_change)
        and not body.confirm
    ):
        before = show_sync_settings(database, caller.workspace_id).price_mode
        assert body.price_mode is not None
        raise ApiError(
            422,
            _confirmation_text(before, body.price_mode),
            errors=[
                ErrorItem(
                    location="$.confirm",
                    message="must be true to change the price mode",
                )
            ],
        )
    switch = pending_target_switch(database, caller.workspace_id, sync_change)
    if switch is not None and not body.confirm:
        raise ApiError(
            422,
            f"{switch.explanation()} Nothing was changed.",
            errors=[
                ErrorItem(
                    location="$.confirm",
                    message="must be true to switch the target once records were written",
                )
            ],
        )
    update_sync_settings(
        database, caller.workspace_id, sync_change, confirmed=True, preferences=preferences
    )
    return _settings_out(database, caller.workspace_id)


class FinishOut(BaseModel):
    """The workspace's setup is finished: its schedules run."""

    setup_finished: bool


@router.post("/setup/finish", response_model=FinishOut, responses=ERROR_RESPONSES)
def finish(
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
) -> Any:
    """The setup wizard's Finish: once every step's rule holds (GET /mappings/summary says
    what blocks), automatic syncs start on the workspace's schedules. Before it, none run.
    Finishing again changes nothing."""
    try:
        with database.session() as session:
            finish_setup(session, caller.workspace_id)
    except SetupNotReadyError as error:
        # Every 422 names where: here, the setup step whose rule does not hold.
        raise ApiError(
            422,
            error.message,
            errors=[ErrorItem(location=error.problem.step, message=error.problem.message)],
        ) from None
    return FinishOut(setup_finished=True)
