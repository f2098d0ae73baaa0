"""A workspace's HaloPSA connection, with its client secret encrypted at rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from halosync.domain.models import LINE_WRITE_PATHS, LineWritePath
from halosync.store.base import utcnow
from halosync.store.crypto import SecretBox
from halosync.store.models import HaloConnection, Workspace


def line_write_path_of(row: HaloConnection | None) -> LineWritePath:
    """The stored way of writing lines; the default when none (or an unknown one) is."""
    for path in LINE_WRITE_PATHS:
        if row is not None and row.line_write_path == path:
            return path
    return "invoice"


@dataclass(frozen=True)
class ConnectionDetails:
    """A connection as the rest of halosync uses it (the secret decrypted)."""

    server_url: str
    auth_server_url: str | None
    tenant: str | None
    client_id: str
    client_secret: str
    last_successful_test_at: datetime | None = None
    line_write_path: LineWritePath = "invoice"

    def __repr__(self) -> str:
        return (
            f"ConnectionDetails(server_url={self.server_url!r}, client_id={self.client_id!r}, "
            "client_secret='********')"
        )


class HaloConnectionRepository:
    """Reads and writes one workspace's connection; needs the :class:`SecretBox` to do so."""

    def __init__(self, session: Session, workspace_id: int, box: SecretBox) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.box = box

    def get(self) -> HaloConnection | None:
        """The stored row (secret still encrypted), if a connection is configured."""
        return self.session.scalar(
            select(HaloConnection).where(HaloConnection.workspace_id == self.workspace_id)
        )

    def details(self) -> ConnectionDetails | None:
        """The connection with its secret decrypted, if one is configured."""
        row = self.get()
        if row is None:
            return None
        return ConnectionDetails(
            server_url=row.server_url,
            auth_server_url=row.auth_server_url,
            tenant=row.tenant,
            client_id=row.client_id,
            client_secret=self.box.decrypt(row.client_secret_encrypted),
            last_successful_test_at=row.last_successful_test_at,
            line_write_path=line_write_path_of(row),
        )

    def save(self, details: ConnectionDetails) -> HaloConnection:
        """Create or replace the connection; a changed connection must be tested again."""
        row = self.get()
        if row is None:
            row = HaloConnection(workspace_id=self.workspace_id)
            self.session.add(row)
        row.server_url = details.server_url
        row.auth_server_url = details.auth_server_url
        row.tenant = details.tenant
        row.client_id = details.client_id
        row.client_secret_encrypted = self.box.encrypt(details.client_secret)
        row.line_write_path = details.line_write_path
        row.configured_at = utcnow()
        row.last_successful_test_at = None
        row.last_test_message = None
        self.session.flush()
        return row

    def record_test(self, *, success: bool, message: str, at: datetime | None = None) -> None:
        """Remember the outcome of a connection test."""
        row = self.get()
        if row is None:
            return
        row.last_test_message = message
        if success:
            row.last_successful_test_at = at or utcnow()
        self.session.flush()

    def delete(self) -> bool:
        """Forget the connection (reset); returns whether there was one."""
        result = self.session.execute(
            delete(HaloConnection).where(HaloConnection.workspace_id == self.workspace_id)
        )
        return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class ConnectionTestState:
    """What the last connection test said (no secret: readable without the key)."""

    last_successful_test_at: datetime | None
    last_test_message: str | None


def connection_test_state(session: Session, workspace_id: int) -> ConnectionTestState | None:
    """The stored connection's last test, or None when no connection is configured."""
    row = session.execute(
        select(HaloConnection.last_successful_test_at, HaloConnection.last_test_message).where(
            HaloConnection.workspace_id == workspace_id
        )
    ).first()
    if row is None:
        return None
    return ConnectionTestState(last_successful_test_at=row[0], last_test_message=row[1])


def encrypted_secrets(session: Session) -> list[tuple[str, str]]:
    """(workspace name, encrypted Halo client secret) of every connected workspace."""
    return [
        (name, secret)
        for name, secret in session.execute(
            select(Workspace.name, HaloConnection.client_secret_encrypted).join(
                HaloConnection, HaloConnection.workspace_id == Workspace.id
            )
        )
    ]


def workspaces_connected(session: Session) -> list[tuple[int, str, bool]]:
    """(id, name, has a Halo connection) of every workspace, by name."""
    return [
        (workspace_id, name, connection_id is not None)
        for workspace_id, name, connection_id in session.execute(
            select(Workspace.id, Workspace.name, HaloConnection.id)
            .outerjoin(HaloConnection, HaloConnection.workspace_id == Workspace.id)
            .order_by(Workspace.name)
        )
    ]
