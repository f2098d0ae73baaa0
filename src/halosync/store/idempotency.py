"""Stored responses of API requests made with an ``Idempotency-Key``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.store.models import IdempotencyRecord


class IdempotencyRepository:
    """Idempotency records of one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def get(self, key: str) -> IdempotencyRecord | None:
        """The record stored under ``key``, if any."""
        return self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.workspace_id == self.workspace_id, IdempotencyRecord.key == key
            )
        )

    def save(self, key: str, request_hash: str, status_code: int, response: Any) -> None:
        """Store a response; a concurrent save of the same key fails on the unique key."""
        self.session.add(
            IdempotencyRecord(
                workspace_id=self.workspace_id,
                key=key,
                request_hash=request_hash,
                status_code=status_code,
                response=response,
            )
        )
        self.session.flush()
