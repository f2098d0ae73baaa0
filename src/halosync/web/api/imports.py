"""``/import``: upload a CSV or JSON usage file; the same per-row errors as the CLI."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from halosync.sources.upload import import_upload
from halosync.store.database import Database
from halosync.web.api.auth import Caller, get_database, writer
from halosync.web.api.deps import PREFIX
from halosync.web.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, ErrorItem
from halosync.web.api.json_body import JsonBodyRoute
from halosync.web.api.usage import AllowMassCancel, UsageResult
from halosync.web.uploads import several_files_problem

router = APIRouter(prefix=PREFIX, tags=["usage"], route_class=JsonBodyRoute)

_SUFFIXES = (".csv", ".json")
_CHUNK = 1024 * 1024


def _suffix(filename: str | None, content_type: str | None) -> str:
    """.csv or .json, from the file's name (only its suffix is used, never its path)."""
    suffix = PurePath((filename or "").replace("\\", "/")).suffix.lower()
    if suffix in _SUFFIXES:
        return suffix
    if content_type in ("text/csv", "application/csv"):
        return ".csv"
    if content_type == "application/json":
        return ".json"
    raise ApiError(
        422,
        "The uploaded file must be a .csv or a .json usage file; nothing was changed.",
        errors=[
            ErrorItem(
                location="$.file",
                message=f"file name {filename!r} has no .csv or .json suffix",
            )
        ],
    )


def _import(
    database: Database,
    caller: Caller,
    upload: UploadFile,
    suffix: str,
    options: tuple[bool, bool],
) -> Any:
    snapshot, allow_mass_cancel = options
    with tempfile.TemporaryDirectory(prefix="halosync-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        upload.file.seek(0)
        with path.open("wb") as handle:
            shutil.copyfileobj(upload.file, handle, _CHUNK)
        report = import_upload(
            database,
            caller.workspace_id,
            path,
            snapshot=snapshot,
            allow_mass_cancel=allow_mass_cancel,
        )
    return UsageResult.model_validate({"workspace": caller.workspace_name} | report.as_dict())


@router.post(
    "/import",
    response_model=UsageResult,
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorBody, "description": "A snapshot that would cancel too many."},
        413: {"model": ErrorBody, "description": "The file is over HALOSYNC_MAX_UPLOAD_MB."},
    },
    summary="Import a CSV or JSON usage file",
)
async def import_usage_file(
    request: Request,
    caller: Annotated[Caller, Depends(writer)],
    database: Annotated[Database, Depends(get_database)],
    file: Annotated[UploadFile, File(description="A .csv or .json usage file.")],
    snapshot: Annotated[
        bool, Query(description="The file is the full list: cancel subscriptions it lacks.")
    ] = False,
    allow_mass_cancel: AllowMassCancel = False,
) -> Any:
    """Validates every row first; any bad row means nothing is written, and the answer
    (422) names each problem by line and column (CSV) or JSON path. One file per request."""
    several = several_files_problem(await request.form())
    if several is not None:
        raise ApiError(
            422,
            "Send one file per request; nothing was changed.",
            errors=[ErrorItem(location="$.file", message=several)],
        )
    suffix = _suffix(file.filename, file.content_type)
    try:
        return await run_in_threadpool(
            _import, database, caller, file, suffix, (snapshot, allow_mass_cancel)
        )
    finally:
        await file.close()
