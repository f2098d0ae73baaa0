"""The per-workspace connection service behind the CLI, the REST API and the web UI.

Saving tests first: a configuration that fails its test is refused with "Invalid
connection configuration." and the cause, and nothing is stored. Reset removes the
connection, the mappings and the cached Halo records of the workspace; the ledger, runs
and logs stay for audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from pydantic import SecretStr
from sqlalchemy.orm import Session

from halosync.connection.probe import TestOutcome, probe_connection
from halosync.domain.models import LINE_WRITE_PATHS
from halosync.domain.models import LineWritePath as LineWritePath
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.clock import Clock
from halosync.halopsa.config import (
    HaloConnectionConfig,
    check_outbound_url,
    normalise_server_url,
    token_url_for,
)
from halosync.halopsa.errors import HaloError
from halosync.halopsa.pacing import SharedSlidingLogPacer
from halosync.halopsa.permissions import TARGETS, Target, needs_for
from halosync.halopsa.retry import RetryPolicy
from halosync.logging import MASK, get_logger, register_secret
from halosync.settings import Settings
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.halo_records import HaloRecordRepository
from halosync.store.mappings import MappingRepository
from halosync.store.models import Workspace
from halosync.store.rate_slots import SqlRateSlotLog
from halosync.store.workspaces import WorkspaceRepository

log = get_logger(__name__)

INVALID_CONFIGURATION = "Invalid connection configuration."
# A test answers in seconds: no waiting out rate windows, few retries.
TEST_RETRY_POLICY = RetryPolicy(attempts=2, timeout=20.0, wait_initial=0.5, rate_limit_waits=0)


@dataclass(frozen=True)
class ConnectionInput:
    """What a user enters to connect a workspace to Halo."""

    server_url: str
    client_id: str
    client_secret: str
    auth_server_url: str | None = None
    tenant: str | None = None
    target: str | None = None
    line_write_path: str | None = None
    """``invoice`` or ``update_lines`` (``docs/halopsa.md``); None keeps the stored one."""

    def __post_init__(self) -> None:
        register_secret(self.client_secret)

    def __repr__(self) -> str:
        return (
            f"ConnectionInput(server_url={self.server_url!r}, client_id={self.client_id!r}, "
            f"client_secret={MASK!r})"
        )


@dataclass(frozen=True)
class ConnectionView:
    """A connection as shown to users: the secret masked, never decrypted for display."""

    workspace: str
    server_url: str
    auth_server_url: str | None
    tenant: str | None
    client_id: str
    client_secret: str
    target: str
    line_write_path: str
    configured_at: datetime
    last_successful_test_at: datetime | None
    last_test_message: str | None
    account_mappings: int
    service_mappings: int

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        return {
            "workspace": self.workspace,
            "server_url": self.server_url,
            "auth_server_url": self.auth_server_url,
            "tenant": self.tenant,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "target": self.target,
            "line_write_path": self.line_write_path,
            "configured_at": self.configured_at.isoformat(),
            "last_successful_test_at": (
                self.last_successful_test_at.isoformat() if self.last_successful_test_at else None
            ),
            "last_test_message": self.last_test_message,
            "account_mappings": self.account_mappings,
            "service_mappings": self.service_mappings,
        }


@dataclass(frozen=True)
class ResetSummary:
    """What a reset removed."""

    workspace: str
    connection_removed: bool
    account_mappings_removed: int
    service_mappings_removed: int
    cached_halo_records_removed: int

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        return {
            "workspace": self.workspace,
            "connection_removed": self.connection_removed,
            "account_mappings_removed": self.account_mappings_removed,
            "service_mappings_removed": self.service_mappings_removed,
            "cached_halo_records_removed": self.cached_halo_records_removed,
        }


def _target(value: str) -> Target:
    if value not in TARGETS:
        raise ValidationFailedError(
            f"Target {value!r} is not valid.", fix=f"Use one of: {', '.join(TARGETS)}."
        )
    return value


def _line_write_path(value: str) -> LineWritePath:
    if value not in LINE_WRITE_PATHS:
        raise ValidationFailedError(
            f"Line write path {value!r} is not valid.",
            fix=f"Use one of: {', '.join(LINE_WRITE_PATHS)} (see docs/halopsa.md).",
        )
    return value


def _clean(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def no_connection(workspace_name: str) -> NotFoundError:
    """The refusal when a workspace has no Halo connection yet, said for each caller."""
    return NotFoundError(
        f"Workspace {workspace_name!r} has no Halo connection.",
        fix=f"Set one with `halosync connection set --workspace {workspace_name} --server URL "
        "--client-id ID --client-secret SECRET`.",
        fixes={
            "api": "Set one with PUT /connection.",
            "ui": "Set one up in the setup wizard (Manage Setup).",
        },
    )


class SecretRequiredError(ValidationFailedError):
    """The client secret was left blank where the stored one may not be used."""

    field = "client_secret"


def _origin_lowered(url: str) -> str:
    # Scheme and host name compare case-insensitively; the path does not.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def _destination(data: ConnectionInput | ConnectionDetails) -> tuple[str, str, str]:
    """Where a secret entered with ``data`` would go: resource server, token endpoint, client."""
    try:
        server = normalise_server_url(data.server_url)
        token = token_url_for(data.server_url, _clean(data.auth_server_url))
    except HaloError as error:
        raise ValidationFailedError(error.message, fix=error.fix) from error
    return _origin_lowered(server), _origin_lowered(token), data.client_id.strip()


_DESTINATION_FIELDS = ("server address", "authorisation server", "client ID")


def secret_to_use(entered: ConnectionInput, stored: ConnectionDetails | None) -> str:
    """The secret to send for ``entered``: the one typed, or — left blank — the stored one.

    The stored secret is only ever sent where it was configured: to the same (normalised)
    server address and authorisation server, for the same client ID. Anything else needs the
    secret typed again (:class:`SecretRequiredError`), so a changed address can never
    receive it.
    """
    if entered.client_secret.strip():
        return entered.client_secret
    if stored is None:
        raise SecretRequiredError(
            "Enter the client secret.", fix="No secret is stored for this workspace yet."
        )
    wanted = _destination(entered)
    try:
        known = _destination(stored)
    except ValidationFailedError:
        known = ("", "", "")
    pairs = zip(_DESTINATION_FIELDS, wanted, known, strict=True)
    changed = [name for name, new, old in pairs if new != old]
    if not _clean(entered.auth_server_url) and not _clean(stored.auth_server_url):
        # Both derive the authorisation server from the server: name only what was typed.
        changed = [name for name in changed if name != "authorisation server"]
    if changed:
        raise SecretRequiredError(
            f"Enter the client secret: the {' and '.join(changed)} changed since it was saved.",
            fix="The stored secret is only sent to the server, authorisation server and "
            "client ID it was saved with.",
        )
    return stored.client_secret


class ConnectionService:
    """Save, test, show and reset a workspace's Halo connection; build clients from it."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        box: SecretBox | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.box = box or SecretBox.from_settings(settings)
        self._transport = transport
        self._clock = clock

    # --- building clients ----------------------------------------------------------

    def config_for(
        self, data: ConnectionInput | ConnectionDetails, target: str
    ) -> HaloConnectionConfig:
        """A validated client configuration asking for exactly ``target``'s scopes."""
        missing = [
            name
            for name, value in (
                ("server address", data.server_url),
                ("client ID", data.client_id),
                ("client secret", data.client_secret),
            )
            if not (value or "").strip()
        ]
        if missing:
            raise ValidationFailedError(
                f"The connection is missing its {', '.join(missing)}.",
                fix="Fill in the server address, client ID and client secret first.",
            )
        try:
            config = HaloConnectionConfig(
                server_url=data.server_url.strip(),
                client_id=data.client_id.strip(),
                client_secret=SecretStr(data.client_secret.strip()),
                auth_server_url=_clean(data.auth_server_url),
                tenant=_clean(data.tenant),
                scopes=needs_for(_target(target)).scopes,
                # A stored connection that passed its test has been issued tokens by Halo.
                issued_token_before=isinstance(data, ConnectionDetails)
                and data.last_successful_test_at is not None,
            )
            for url in (config.base_url, config.token_url):
                check_outbound_url(url, allow_private_networks=self.settings.allow_private_networks)
        except HaloError as error:
            raise ValidationFailedError(error.message, fix=error.fix) from error
        return config

    def client_for_config(
        self, config: HaloConnectionConfig, *, retry: RetryPolicy | None = None
    ) -> HaloApiClient:
        """A client paced by the budget shared with every process using this Halo instance."""
        self.database.migrate()
        pacer = SharedSlidingLogPacer.from_settings(
            self.settings, SqlRateSlotLog(self.database), config.instance_key, clock=self._clock
        )
        return HaloApiClient(
            config,
            transport=self._transport,
            pacer=pacer,
            clock=self._clock,
            retry=retry,
            allow_private_networks=self.settings.allow_private_networks,
            rate_window_seconds=self.settings.halo_rate_window_seconds,
        )

    def client_for(self, workspace: str | None) -> HaloApiClient:
        """A client for the workspace's stored connection (the sync engine's entry point)."""
        with self.database.session() as session:
            ws = WorkspaceRepository(session).resolve(workspace)
            details = self._details(session, ws)
            target = ws.target
        return self.client_for_config(self.config_for(details, target))

    # --- operations ------------------------------------------------------------------

    def with_stored_secret(self, workspace: str | None, data: ConnectionInput) -> ConnectionInput:
        """``data`` with the secret :func:`secret_to_use` allows (the stored one only for
        the destination it was saved with)."""
        if data.client_secret.strip():
            return data
        self.database.migrate()
        with self.database.session() as session:
            ws = WorkspaceRepository(session).resolve(workspace)
            stored = HaloConnectionRepository(session, ws.id, self.box).details()
        return replace(data, client_secret=secret_to_use(data, stored))

    async def test_entered(
        self, workspace: str | None, data: ConnectionInput, target: str | None = None
    ) -> TestOutcome:
        """Test what a user entered for ``workspace`` without storing it; a blank secret
        follows :func:`secret_to_use` (:class:`SecretRequiredError` when it may not)."""
        try:
            data = self.with_stored_secret(workspace, data)
        except SecretRequiredError:
            raise
        except ValidationFailedError as invalid:
            # An address that cannot be read: the same answer test_input gives for it.
            return TestOutcome(False, cause=str(invalid), error_kind="configuration")
        if target is None:
            with self.database.session() as session:
                target = data.target or WorkspaceRepository(session).resolve(workspace).target
        return await self.test_input(data, target)

    async def test_input(self, data: ConnectionInput, target: str) -> TestOutcome:
        """Test a configuration that is not (yet) stored."""
        try:
            config = self.config_for(data, target)
        except ValidationFailedError as invalid:
            return TestOutcome(False, cause=str(invalid), error_kind="configuration")
        async with self.client_for_config(config, retry=TEST_RETRY_POLICY) as client:
            outcome = await probe_connection(client, needs_for(_target(target)))
        log.info("halo_connection_tested", success=outcome.success, server=config.base_url)
        return outcome

    async def test(self, workspace: str | None) -> TestOutcome:
        """Test the stored connection and remember the outcome (and when it last succeeded)."""
        self.database.migrate()
        with self.database.session() as session:
            ws = WorkspaceRepository(session).resolve(workspace)
            details = self._details(session, ws)
            workspace_id, target = ws.id, ws.target
        outcome = await self.test_input(
            ConnectionInput(
                details.server_url,
                details.client_id,
                details.client_secret,
                details.auth_server_url,
                details.tenant,
            ),
            target,
        )
        with self.database.session() as session:
            HaloConnectionRepository(session, workspace_id, self.box).record_test(
                success=outcome.success, message=outcome.text(), at=outcome.tested_at
            )
        return outcome

    async def save(
        self, workspace: str | None, data: ConnectionInput, *, test: bool = True
    ) -> tuple[ConnectionView, TestOutcome | None]:
        """Validate, test (unless told not to) and store the connection in one transaction.

        A blank secret keeps the stored one, by :func:`secret_to_use`'s rule. A
        configuration that fails its test is refused with "Invalid connection
        configuration." and the cause; nothing is stored then.
        """
        data = self.with_stored_secret(workspace, data)
        self.database.migrate()
        with self.database.session() as session:
            repository = WorkspaceRepository(session)
            ws = repository.resolve(workspace)
            target = _target(data.target or ws.target)
            switch = repository.target_switch(ws, target)
            stored = HaloConnectionRepository(session, ws.id, self.box).get()
            path = _line_write_path(
                data.line_write_path or (stored.line_write_path if stored else "invoice")
            )
        if switch is not None:
            raise ValidationFailedError(
                f"{switch.explanation()} The connection was not saved.",
                fix=f"Keep the target, or switch it with `halosync settings set --target "
                f"{target}`, which asks to confirm.",
                fixes={
                    "api": f"Keep the target, or switch it with PATCH /settings "
                    f'{{"target": "{target}", "confirm": true}}.',
                    "ui": "Keep the target here, or switch it on the dashboard under Sync "
                    "behavior, which asks to confirm.",
                },
            )
        self.config_for(data, target)
        outcome: TestOutcome | None = None
        if test:
            outcome = await self.test_input(data, target)
            if not outcome.success:
                raise ValidationFailedError(INVALID_CONFIGURATION, fix=outcome.cause)
        with self.database.session() as session:
            repository = WorkspaceRepository(session)
            ws = repository.resolve(workspace)
            repository.set_target(ws, target)
            repo = HaloConnectionRepository(session, ws.id, self.box)
            repo.save(
                ConnectionDetails(
                    server_url=data.server_url.strip(),
                    auth_server_url=_clean(data.auth_server_url),
                    tenant=_clean(data.tenant),
                    client_id=data.client_id.strip(),
                    client_secret=data.client_secret.strip(),
                    line_write_path=path,
                )
            )
            if outcome is not None:
                repo.record_test(success=True, message=outcome.text(), at=outcome.tested_at)
            view = self._view(session, ws)
        log.info("halo_connection_saved", workspace=view.workspace, tested=test)
        return view, outcome

    def show(self, workspace: str | None) -> ConnectionView:
        """The stored connection with its secret masked."""
        self.database.migrate()
        with self.database.reading() as session:
            ws = WorkspaceRepository(session).resolve(workspace)
            return self._view(session, ws)

    def reset(self, workspace: str | None) -> ResetSummary:
        """Remove the connection, the mappings and the cached Halo records; keep history."""
        self.database.migrate()
        with self.database.session() as session:
            ws = WorkspaceRepository(session).resolve(workspace)
            removed = HaloConnectionRepository(session, ws.id, self.box).delete()
            accounts, services = MappingRepository(session, ws.id).delete_all()
            cached = HaloRecordRepository(session, ws.id).delete_all()
            refresh_mapping_columns(session, ws.id)
            summary = ResetSummary(ws.name, removed, accounts, services, cached)
        log.info("halo_connection_reset", **summary.to_dict())
        return summary

    # --- helpers ---------------------------------------------------------------------

    def _details(self, session: Session, ws: Workspace) -> ConnectionDetails:
        details = HaloConnectionRepository(session, ws.id, self.box).details()
        if details is None:
            raise no_connection(ws.name)
        register_secret(details.client_secret)
        return details

    def _view(self, session: Session, ws: Workspace) -> ConnectionView:
        row = HaloConnectionRepository(session, ws.id, self.box).get()
        if row is None:
            raise no_connection(ws.name)
        account_mappings, service_mappings = MappingRepository(session, ws.id).count()
        return ConnectionView(
            workspace=ws.name,
            server_url=row.server_url,
            auth_server_url=row.auth_server_url,
            tenant=row.tenant,
            client_id=row.client_id,
            client_secret=MASK,
            target=ws.target,
            line_write_path=row.line_write_path,
            configured_at=row.configured_at,
            last_successful_test_at=row.last_successful_test_at,
            last_test_message=row.last_test_message,
            account_mappings=account_mappings,
            service_mappings=service_mappings,
        )
