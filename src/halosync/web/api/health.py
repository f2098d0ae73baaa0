"""``/healthz`` and ``/readyz`` for load balancers and orchestrators (no log-in, no Halo).

``/healthz`` answers as long as the process serves requests. ``/readyz`` also checks the
database (reachable, schema current) and the job queue (reachable), with one query and
one queue command, and answers 503 with the reason when either is not. Reasons name no
host or driver text (the endpoint is public); the log line and ``halosync doctor`` do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from halosync.logging import get_logger
from halosync.ops.checks import Check, check_database, check_queue
from halosync.web.api.auth import get_database
from halosync.web.api.deps import get_settings
from halosync.web.api.errors import ApiError
from halosync.web.api.json_body import JsonBodyRoute
from halosync.web.api.syncs import get_job_queue

router = APIRouter(tags=["monitoring"], route_class=JsonBodyRoute)
log = get_logger(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    """The process lives and serves requests."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


def _queue_check(request: Request) -> Check:
    settings = get_settings(request)
    try:
        queue = get_job_queue(request)
    except ApiError as error:
        return Check("queue", "problem", error.message, public="Cannot open the job queue.")
    return check_queue(queue, settings)


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: database reachable and migrated, job queue reachable."""
    checks = [check_database(get_database(request)), _queue_check(request)]
    ready = all(check.ok for check in checks)
    _log_change(request, ready, checks)
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "checks": {check.name: check.public_detail for check in checks},
    }
    if not ready:
        body["reason"] = " ".join(check.public_detail for check in checks if not check.ok)
    return JSONResponse(body, status_code=200 if ready else 503, headers=_NO_STORE)


def _log_change(request: Request, ready: bool, checks: list[Check]) -> None:
    # Probes come every few seconds: log when readiness changes, not on every probe.
    previous = getattr(request.app.state, "ready", None)
    request.app.state.ready = ready
    if not ready and previous is not False:
        log.warning("not_ready", problems=[f"{c.name}: {c.detail}" for c in checks if not c.ok])
    elif ready and previous is False:
        log.info("ready_again")
