"""Changing the workspace settings that steer a usage sync (target, prices, adoption...).

A change applies from the next sync on; nothing already written to Halo is rewritten by
it. Changing the price mode is a billing decision, and so is switching the target once
records were written under it (they stay in HaloPSA, no longer updated): callers confirm
both first (:func:`price_mode_change_needs_confirmation`, :func:`pending_target_switch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from halosync.domain.models import PRICE_MODES, TARGETS
from halosync.domain.targets import TargetSwitch
from halosync.errors import ValidationFailedError
from halosync.store.database import Database
from halosync.store.models import Workspace
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import add_log_entry
from halosync.sync.preferences import PreferencesChange, update_preferences, validate_preferences


@dataclass(frozen=True)
class SyncSettingsChange:
    """The settings to change; None leaves a setting as it is."""

    price_mode: str | None = None
    target: str | None = None
    adopt_existing_lines: bool | None = None
    cooldown_minutes: int | None = None
    create_licence_on_mapping: bool | None = None
    snapshot_cancel_limit_percent: int | None = None


@dataclass(frozen=True)
class SyncSettingsView:
    """A workspace's sync settings as shown to users."""

    workspace: str
    target: str
    price_mode: str
    adopt_existing_lines: bool
    cooldown_minutes: int
    create_licence_on_mapping: bool
    snapshot_cancel_limit_percent: int

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        return {
            "workspace": self.workspace,
            "target": self.target,
            "price_mode": self.price_mode,
            "adopt_existing_lines": self.adopt_existing_lines,
            "cooldown_minutes": self.cooldown_minutes,
            "create_licence_on_mapping": self.create_licence_on_mapping,
            "snapshot_cancel_limit_percent": self.snapshot_cancel_limit_percent,
        }


def validate_change(change: SyncSettingsChange) -> None:
    """Refuse bad values before anything is written, naming each one."""
    problems: list[str] = []
    if change.price_mode is not None and change.price_mode not in PRICE_MODES:
        problems.append(f"price mode {change.price_mode!r} (use {', '.join(PRICE_MODES)})")
    if change.target is not None and change.target not in TARGETS:
        problems.append(f"target {change.target!r} (use {', '.join(TARGETS)})")
    if change.cooldown_minutes is not None and not 0 <= change.cooldown_minutes <= 10_080:
        problems.append(f"cooldown minutes {change.cooldown_minutes} (use 0 to 10080)")
    limit = change.snapshot_cancel_limit_percent
    if limit is not None and not 0 <= limit <= 100:
        problems.append(f"snapshot cancel limit {limit} (use 0 to 100)")
    if problems:
        raise ValidationFailedError("Invalid setting: " + "; ".join(problems) + ".")


def _view(ws: Workspace) -> SyncSettingsView:
    return SyncSettingsView(
        workspace=ws.name,
        target=ws.target,
        price_mode=ws.price_mode,
        adopt_existing_lines=ws.adopt_existing_lines,
        cooldown_minutes=ws.sync_cooldown_minutes,
        create_licence_on_mapping=ws.create_licence_on_mapping,
        snapshot_cancel_limit_percent=ws.snapshot_cancel_limit_percent,
    )


def show_sync_settings(database: Database, workspace_id: int) -> SyncSettingsView:
    """The workspace's current sync settings."""
    with database.reading() as session:
        return _view(WorkspaceRepository(session).get(workspace_id))


def price_mode_change_needs_confirmation(
    database: Database, workspace_id: int, change: SyncSettingsChange
) -> bool:
    """True when the change would switch the price mode to a different one."""
    if change.price_mode is None:
        return False
    return show_sync_settings(database, workspace_id).price_mode != change.price_mode


def pending_target_switch(
    database: Database, workspace_id: int, change: SyncSettingsChange
) -> TargetSwitch | None:
    """The target switch ``change`` makes that must be confirmed, with its explanation."""
    with database.reading() as session:
        repository = WorkspaceRepository(session)
        return repository.target_switch(repository.get(workspace_id), change.target)


def unconfirmed_target_switch(switch: TargetSwitch) -> ValidationFailedError:
    """The refusal of a target switch nobody confirmed."""
    return ValidationFailedError(
        f"{switch.explanation()} It was not confirmed, so nothing was changed.",
        fix="Pass --yes to confirm.",
        fixes={"api": "Send confirm=true to go ahead.", "ui": "Confirm it in the dialog."},
    )


def update_sync_settings(
    database: Database,
    workspace_id: int,
    change: SyncSettingsChange,
    *,
    confirmed: bool,
    preferences: PreferencesChange | None = None,
) -> SyncSettingsView:
    """Validate ``change`` (and the ``preferences`` changed with it), then apply both in one
    transaction and log what changed: nothing is half-applied."""
    validate_change(change)
    if preferences is not None:
        validate_preferences(preferences)
    if price_mode_change_needs_confirmation(database, workspace_id, change) and not confirmed:
        raise ValidationFailedError(
            "Changing the price mode changes what customers are billed from the next sync on; "
            "it was not confirmed, so nothing was changed.",
            fix="Pass --yes to confirm.",
            fixes={"api": "Send confirm=true to go ahead.", "ui": "Confirm it in the dialog."},
        )
    with database.session() as session:
        repository = WorkspaceRepository(session)
        ws = repository.get(workspace_id)
        switch = repository.target_switch(ws, change.target)
        if switch is not None and not confirmed:
            raise unconfirmed_target_switch(switch)
        before = _view(ws).to_dict()
        if change.price_mode is not None:
            ws.price_mode = change.price_mode
        if change.target is not None:
            repository.set_target(ws, change.target)
        if change.adopt_existing_lines is not None:
            ws.adopt_existing_lines = change.adopt_existing_lines
        if change.cooldown_minutes is not None:
            ws.sync_cooldown_minutes = change.cooldown_minutes
        if change.create_licence_on_mapping is not None:
            ws.create_licence_on_mapping = change.create_licence_on_mapping
        if change.snapshot_cancel_limit_percent is not None:
            ws.snapshot_cancel_limit_percent = change.snapshot_cancel_limit_percent
        after = _view(ws).to_dict()
        changed = [
            f"{key}: {before[key]} -> {after[key]}" for key in after if before[key] != after[key]
        ]
        if changed:
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                "Sync settings changed",
                "; ".join(changed) + " (applies from the next sync).",
            )
        if preferences is not None:
            update_preferences(session, workspace_id, preferences)
    return show_sync_settings(database, workspace_id)
