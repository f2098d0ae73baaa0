"""Feeding usage into a workspace: validate everything first, then write in one transaction.

The CLI import, the REST API and plug-in sources all end here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from halosync.errors import HalosyncError
from halosync.logging import get_logger
from halosync.sources.apply import ImportReport, apply_batch
from halosync.sources.batch import BatchBuilder
from halosync.sources.plugins import SourceRecord
from halosync.sources.readers import Progress, read_document, read_file
from halosync.store.database import Database

log = get_logger(__name__)


class ConcurrentImportError(HalosyncError):
    """Another writer changed the same workspace's usage data at the same moment."""


def write_batch(
    database: Database,
    workspace_id: int,
    builder: BatchBuilder,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Check what ``builder`` collected against the workspace, then apply it, in one
    transaction; every problem is reported at once and a refused batch changes nothing."""
    try:
        with database.session() as session:
            report = apply_batch(
                session,
                workspace_id,
                builder,
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
            )
    except IntegrityError:
        raise ConcurrentImportError(
            "Another import changed this workspace's accounts, services or subscriptions at "
            "the same time; nothing from this import was written.",
            fix="Run the import again.",
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
    builder = BatchBuilder()
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
    builder = BatchBuilder()
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
    builder = BatchBuilder()
    for record in records:
        builder.add_record(record.kind, record.data, record.location)
    return write_batch(
        database, workspace_id, builder, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
    )
