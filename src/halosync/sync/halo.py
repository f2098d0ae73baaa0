"""Opening a HaloPSA client for a workspace's stored connection.

Every service function takes an optional ``halo_factory``: tests hand in one that talks
to an in-process simulator; without it the client uses the network and the rate budget
shared (in the database) by every halosync process using the same Halo instance.
"""

from __future__ import annotations

from collections.abc import Callable

from halosync.connection.service import ConnectionService, no_connection
from halosync.domain.models import LineWritePath
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.logging import register_secret
from halosync.settings import Settings
from halosync.store.connections import HaloConnectionRepository, line_write_path_of
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository

HaloFactory = Callable[[HaloConnectionConfig], HaloApiClient]
"""Builds the client for a validated connection configuration."""


def open_halo(
    database: Database,
    box: SecretBox,
    settings: Settings,
    workspace_id: int,
    halo_factory: HaloFactory | None = None,
) -> HaloApiClient:
    """A client for the workspace's connection, asking for its target's scopes."""
    service = ConnectionService(database, settings, box=box)
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        details = HaloConnectionRepository(session, workspace_id, box).details()
        name, target = workspace.name, workspace.target
    if details is None:
        raise no_connection(name)
    register_secret(details.client_secret)
    config = service.config_for(details, target)
    if halo_factory is not None:
        return halo_factory(config)
    return service.client_for_config(config)


def line_write_path(database: Database, box: SecretBox, workspace_id: int) -> LineWritePath:
    """How the workspace's connection writes recurring-invoice lines (``docs/halopsa.md``)."""
    with database.session() as session:
        row = HaloConnectionRepository(session, workspace_id, box).get()
    return line_write_path_of(row)
