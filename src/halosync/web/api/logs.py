"""``/logs``: the activity log with its level filter, paging and the four tiles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from halosync.domain.ages import humanize_age
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.sync.activity import list_log_entries, parse_level
from halosync.web.api.auth import Caller, current_caller, get_database
from halosync.web.api.deps import PREFIX, PageNumber
from halosync.web.api.errors import ERROR_RESPONSES
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["logs"], route_class=JsonBodyRoute)


class LogEntryOut(BaseModel):
    """One entry; ``created_at`` is UTC (the viewer's time zone is the client's to apply)."""

    id: int
    level: Literal["INFO", "WARNING", "ERROR"]
    title: str
    details: str | None
    created_at: datetime
    run_id: int | None


class TilesOut(BaseModel):
    """The Logs & Monitoring tiles over the period."""

    total: int
    errors: int
    warnings: int
    errors_alert: bool = Field(description="Shown red: errors > 0.")
    warnings_alert: bool = Field(description="Shown orange: warnings > 0.")
    last_update: datetime | None
    last_update_age: str | None = Field(description='e.g. "9h ago".')


class LogPageOut(BaseModel):
    """One page of entries (newest first) and the tiles."""

    total: int = Field(description="Entries matching the level filter.")
    page: int
    page_size: int
    range: str = Field(description='e.g. "1 – 20 of 236".')
    entries: list[LogEntryOut]
    tiles: TilesOut


@router.get("/logs", response_model=LogPageOut, responses=ERROR_RESPONSES)
def logs(
    caller: Annotated[Caller, Depends(current_caller)],
    database: Annotated[Database, Depends(get_database)],
    level: Annotated[
        Literal["all", "info", "warning", "error", "ALL", "INFO", "WARNING", "ERROR"],
        Query(description="Only entries of this level (default all)."),
    ] = "all",
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 20,
    days: Annotated[int, Query(ge=1, le=3650, description="Period the tiles cover.")] = 30,
) -> Any:
    """Entries of the last ``days`` days, newest first, and the tiles over the same days."""
    now = utcnow()
    wanted = parse_level(level)
    found = list_log_entries(
        database,
        caller.workspace_id,
        level=wanted,
        page=page,
        page_size=page_size,
        days=days,
        now=now,
    )
    everything = (
        found
        if wanted is None and page == 1
        else list_log_entries(
            database, caller.workspace_id, page=1, page_size=1, days=days, now=now
        )
    )
    newest = everything.entries[0].created_at if everything.entries else None
    body = found.to_dict()
    body["tiles"] = TilesOut(
        total=everything.total,
        errors=found.errors,
        warnings=found.warnings,
        errors_alert=found.errors > 0,
        warnings_alert=found.warnings > 0,
        last_update=newest,
        last_update_age=humanize_age(newest, now) if newest else None,
    )
    return LogPageOut.model_validate(body)
