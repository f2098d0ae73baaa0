"""Feeding usage into a workspace: validate everything first, then write in one transaction.

The one owner of the rule: the CLI import, the REST API's file upload and JSON upsert
(:func:`upsert_usage`, with its ``Idempotency-Key``), the demo and plug-in sources all end
in :func:`write_batch`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from halosync.errors import HalosyncError
from halosync.logging import get_logger
from halosync.sources.apply import ImportReport, apply_batch
from halosync.sources.batch import BatchBuilder
from halosync.sources.plugins import SourceRecord
from halosync.sources.readers import (
    BODY_HINT,
    Progress,
    read_document,
    read_file,
    read_json_stream,
)
from halosync.store.database import Database
from halosync.store.idempotency import IdempotencyRepository

log = get_logger(__name__)


class ConcurrentImportError(HalosyncError):
    """Another writer changed the same workspace's usage data at the same moment."""


class IdempotencyKeyReusedError(HalosyncError):
    """An ``Idempotency-Key`` sent again with a different request."""


def write_batch(
    database: Database,
    workspace_id: int,
    builder: BatchBuilder,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    also: Callable[[Session, ImportReport], None] | None = None,
) -> ImportReport:
    """Check what ``builder`` collected against the workspace, then apply it, in one
    transaction; every problem is reported at once and a refused batch changes nothing.

    ``also`` writes something more in the same transaction (the API's idempotency record).
    """
    try:
        with database.session() as session:
            report = apply_batch(
                session,
                workspace_id,
                builder,
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
            )
            if also is not None:
                also(session, report)
    except IntegrityError:
        raise ConcurrentImportError(
            "Another import changed this workspace's accounts, services or subscriptions at "
            "the same time; nothing from this import was written.",
            fix="Run the import (send the request) again.",
        ) from None
    log.info(
        "usage imported",
        workspace_id=workspace_id,
        rows=report.rows,
        accounts=asdict(report.accounts),
        services=asdict(report.services),
        subscriptions=asdict(report.subscriptions),
        cancelled=len(report.cancelled),
    )
    return report


def import_file(
    database: Database,
    workspace_id: int,
    path: Path,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a .csv or .json file; any bad row means nothing is written."""
    with BatchBuilder() as builder:
        read_file(path, builder, progress=progress)
        return write_batch(
            database, workspace_id, builder, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
        )


def import_document(
    database: Database,
    workspace_id: int,
    document: object,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Import an already-parsed JSON document (the demo's sample data, tests)."""
    with BatchBuilder() as builder:
        read_document(document, builder)
        return write_batch(
            database, workspace_id, builder, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
        )


def import_records(
    database: Database,
    workspace_id: int,
    records: Iterable[SourceRecord],
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Import what a plug-in source yields, with the same validation as a file."""
    with BatchBuilder() as builder:
        for record in records:
            builder.add_record(record.kind, record.data, record.location)
        return write_batch(
            database, workspace_id, builder, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
        )


@dataclass(frozen=True)
class UpsertOutcome:
    """What a usage upsert answered: the import report as a document, and whether it is the
    answer stored under the same ``Idempotency-Key`` (nothing applied again)."""

    report: dict[str, Any]
    replayed: bool = False


def _request_hash(body: bytes, snapshot: bool, allow_mass_cancel: bool) -> str:
    digest = hashlib.sha256(json.dumps([snapshot, allow_mass_cancel]).encode("ascii"))
    digest.update(b"\n" + body)
    return digest.hexdigest()


def _replay(
    database: Database, workspace_id: int, key: str, request_hash: str
) -> UpsertOutcome | None:
    with database.session() as session:
        record = IdempotencyRepository(session, workspace_id).get(key)
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {key!r} was already used with a different request body.",
                fix="Use a new key for a new request.",
            )
        return UpsertOutcome(dict(record.response), replayed=True)


def upsert_usage(
    database: Database,
    workspace_id: int,
    body: bytes,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    idempotency_key: str | None = None,
) -> UpsertOutcome:
    """Import a JSON usage document sent as bytes (the REST API's bulk upsert).

    The body is read exactly like a JSON file (streamed, depth-limited, errors by line and
    column or JSON path) and written by :func:`write_batch`. With an ``idempotency_key`` the
    answer is stored in the same transaction; the same key and request again get that
    answer back and change nothing, the same key with another request is refused.
    """
    request_hash = _request_hash(body, snapshot, allow_mass_cancel)
    key = idempotency_key
    if key is not None and (replayed := _replay(database, workspace_id, key, request_hash)):
        return replayed
    with BatchBuilder() as builder:
        read_json_stream(io.BytesIO(body), builder, hint=BODY_HINT)

        def remember(session: Session, report: ImportReport) -> None:
            if key is not None:
                IdempotencyRepository(session, workspace_id).save(
                    key, request_hash, 200, report.as_dict()
                )

        try:
            report = write_batch(
                database,
                workspace_id,
                builder,
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
                also=remember,
            )
        except ConcurrentImportError:
            # Lost a race: the same key stored by a concurrent request, or another import.
            if key is not None and (replayed := _replay(database, workspace_id, key, request_hash)):
                return replayed
            raise
        return UpsertOutcome(report.as_dict())
