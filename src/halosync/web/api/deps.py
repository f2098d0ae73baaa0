"""What routes are handed: settings, the secret box, Halo access and shared input types.

Tests (and the demo) reach HaloPSA through the simulator by setting
``app.state.halo_transport`` (an httpx2 transport for connection tests) and
``app.state.halo_factory`` (a :data:`~halosync.sync.halo.HaloFactory` for syncs); without
them the real network is used.
"""

from __future__ import annotations

from typing import Annotated

import httpx2
from fastapi import Depends, Query, Request
from pydantic import AfterValidator, BeforeValidator, SecretStr, StringConstraints
from pydantic_core import PydanticCustomError

from halosync.connection.service import ConnectionService
from halosync.domain.halo_values import json_value
from halosync.domain.text import text_problem
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.halo import HaloFactory
from halosync.web.api.auth import get_database

PREFIX = "/api/v1/workspaces/{workspace}"

# A count in a response: 7 for a whole one (never 7.0), 12.4 for a fraction; one rule
# (domain.numbers.json_count) for every route, reconcile --json and the CLI's JSON.
JsonCount = Annotated[int | float, BeforeValidator(json_value)]


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def get_box(request: Request) -> SecretBox:
    """The box that encrypts stored secrets (built once per app, on first use)."""
    box = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = SecretBox.from_settings(get_settings(request))
        request.app.state.secret_box = box
    assert isinstance(box, SecretBox)
    return box


def get_halo_factory(request: Request) -> HaloFactory | None:
    """The Halo client factory syncs use (None: the network, paced per instance)."""
    factory: HaloFactory | None = getattr(request.app.state, "halo_factory", None)
    return factory


def get_connection_service(
    request: Request,
    database: Annotated[Database, Depends(get_database)],
    box: Annotated[SecretBox, Depends(get_box)],
) -> ConnectionService:
    """The connection service over the app's database, key and Halo transport."""
    transport: httpx2.AsyncBaseTransport | None = getattr(request.app.state, "halo_transport", None)
    return ConnectionService(database, get_settings(request), box=box, transport=transport)


def _printable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_plain", problem)
    return value


def _printable_secret(value: SecretStr) -> SecretStr:
    # The problem is named, never the secret.
    _printable(value.get_secret_value())
    return value


SecretText = Annotated[SecretStr, AfterValidator(_printable_secret)]
"""A secret: plain text, as :data:`ShortText`, never shown."""

ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255),
    AfterValidator(_printable),
]
"""A name-sized string without control characters."""

UrlText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    AfterValidator(_printable),
]
"""A URL-sized string without control characters."""

Ref = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_printable),
]
"""An account or service reference."""

PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")]
