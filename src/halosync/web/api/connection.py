"""``/connection``: show (secret masked), save after a test, test, and reset the Halo link."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from halosync.connection.probe import TestOutcome
from halosync.connection.service import (
    ConnectionInput,
    ConnectionService,
    LineWritePath,
    SecretRequiredError,
)
from halosync.errors import ValidationFailedError
from halosync.web.api.auth import Caller, current_caller, writer
from halosync.web.api.deps import (
    PREFIX,
    SecretText,
    ShortText,
    UrlText,
    get_connection_service,
)
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["connection"], route_class=JsonBodyRoute)

_NO_CONNECTION: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such workspace, or no connection."}
}


class ConnectionIn(BaseModel):
    """What a user enters to connect a workspace to HaloPSA."""

    model_config = ConfigDict(extra="forbid")

    server_url: UrlText = Field(description="Resource server, e.g. https://x.halopsa.com.")
    client_id: ShortText
    client_secret: SecretText | None = Field(
        default=None,
        max_length=1024,
        description="Stored encrypted; never shown. Left out or blank, the stored secret is "
        "used, but only while server_url, auth_server_url and client_id are unchanged.",
    )
    auth_server_url: UrlText | None = Field(
        default=None, description="Authorisation server; blank means '<server>/auth/'."
    )
    tenant: ShortText | None = Field(
        default=None, description="Hosted tenant; blank or 'Not set' for on-premise."
    )
    target: Literal["licence", "invoice_line"] | None = Field(
        default=None, description="Where counts land; unchanged when left out."
    )
    line_write_path: LineWritePath | None = Field(
        default=None,
        description="How recurring-invoice lines are written: 'invoice' (the default: the "
        "invoice is read and its whole line set posted back) or 'update_lines'; unchanged "
        "when left out.",
    )

    def to_input(self) -> ConnectionInput:
        """The service's input type (which registers the secret for redaction)."""
        return ConnectionInput(
            server_url=self.server_url,
            client_id=self.client_id,
            client_secret=self.client_secret.get_secret_value() if self.client_secret else "",
            auth_server_url=self.auth_server_url,
            tenant=self.tenant,
            target=self.target,
            line_write_path=self.line_write_path,
        )


class ConnectionOut(BaseModel):
    """The stored connection; ``client_secret`` is always the mask."""

    workspace: str
    server_url: str
    auth_server_url: str | None
    tenant: str | None
    client_id: str
    client_secret: str
    target: str
    line_write_path: str = Field(
        description="How recurring-invoice lines are written: invoice or update_lines."
    )
    configured_at: datetime
    last_successful_test_at: datetime | None
    last_test_message: str | None
    account_mappings: int
    service_mappings: int


class PermissionOut(BaseModel):
    """A Halo API permission, in Halo's US and UK wording."""

    scope: str
    us: str
    uk: str


class TestOut(BaseModel):
    """Test Connection's answer: "Test is successful." or "Test is not successful." + cause."""

    __test__ = False  # not a pytest class

    success: bool
    message: str
    cause: str | None
    missing_permissions: list[PermissionOut]
    tested_at: datetime


class SavedOut(BaseModel):
    """The saved connection and the test that let it be saved."""

    connection: ConnectionOut
    test: TestOut | None


class ResetOut(BaseModel):
    """What Reset Integration removed (the ledger, runs and logs are kept)."""

    workspace: str
    connection_removed: bool
    account_mappings_removed: int
    service_mappings_removed: int
    cached_halo_records_removed: int


def _refusal(invalid: ValidationFailedError) -> ApiError:
    """A 422 naming the field at fault (the secret) or the whole body."""
    where = f"$.{invalid.field}" if isinstance(invalid, SecretRequiredError) else "$"
    return ApiError(
        422,
        invalid.text_for("api"),
        errors=[ErrorItem(location=where, message=invalid.fix_for("api") or invalid.message)],
    )


def _test_out(outcome: TestOutcome) -> TestOut:
    return TestOut.model_validate(outcome.to_dict())


def _view(data: dict[str, Any]) -> ConnectionOut:
    return ConnectionOut.model_validate(data)


Service = Annotated[ConnectionService, Depends(get_connection_service)]


@router.get(
    "/connection",
    response_model=ConnectionOut,
    responses={**ERROR_RESPONSES, **_NO_CONNECTION},
    summary="Show the Halo connection (secret masked)",
)
def show_connection(caller: Annotated[Caller, Depends(current_caller)], service: Service) -> Any:
    """Server, client ID, masked secret, when configured and last tested, mapping counts."""
    return _view(service.show(caller.workspace_name).to_dict())


@router.put(
    "/connection",
    response_model=SavedOut,
    responses=ERROR_RESPONSES,
    summary="Test and save the Halo connection",
)
def save_connection(
    caller: Annotated[Caller, Depends(writer)],
    service: Service,
    body: Annotated[ConnectionIn, Body()],
) -> Any:
    """Tests the configuration first; one that fails is refused (422) with "Invalid
    connection configuration." and the cause, and nothing is stored."""
    try:
        view, outcome = asyncio.run(service.save(caller.workspace_name, body.to_input()))
    except ValidationFailedError as invalid:
        raise _refusal(invalid) from None
    return SavedOut(connection=_view(view.to_dict()), test=_test_out(outcome) if outcome else None)


@router.post(
    "/connection/test",
    response_model=TestOut,
    responses={**ERROR_RESPONSES, **_NO_CONNECTION},
    summary="Test a connection (the stored one, or the one in the body)",
)
def run_connection_test(
    caller: Annotated[Caller, Depends(writer)],
    service: Service,
    body: Annotated[ConnectionIn | None, Body()] = None,
) -> Any:
    """Gets a token and probes each permission the target needs. Always 200: the answer
    says "Test is successful." or "Test is not successful." with the cause and any missing
    permissions. With a body, tests that configuration without storing it."""
    if body is None:
        outcome = asyncio.run(service.test(caller.workspace_name))
    else:
        try:
            outcome = asyncio.run(service.test_entered(caller.workspace_name, body.to_input()))
        except SecretRequiredError as needed:
            raise _refusal(needed) from None
    return _test_out(outcome)


@router.delete(
    "/connection",
    response_model=ResetOut,
    responses=ERROR_RESPONSES,
    summary="Reset the integration",
)
def reset_connection(caller: Annotated[Caller, Depends(writer)], service: Service) -> Any:
    """Removes the connection, the mappings and the cached Halo records, so another Halo
    instance can be set up; the ledger, runs and logs stay for audit."""
    return ResetOut.model_validate(service.reset(caller.workspace_name).to_dict())
