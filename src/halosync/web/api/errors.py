"""One error shape for the whole API: ``{"detail": ..., "errors": [{"location", "message"}]}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from halosync.errors import HalosyncError, NotFoundError, ValidationFailedError
from halosync.halopsa.errors import HaloConfigurationError, HaloError
from halosync.logging import get_logger, redact_text
from halosync.sources.errors import ImportValidationError, Location, MassCancelError, describe
from halosync.sources.importer import ConcurrentImportError, IdempotencyKeyReusedError
from halosync.store.database import DatabaseUnavailableError

log = get_logger(__name__)

MASS_CANCEL_FIX = (
    "If the vendor really ended them, send it again with allow_mass_cancel=true; the limit "
    "is the workspace setting snapshot_cancel_limit_percent (PATCH /settings)."
)


class ErrorItem(BaseModel):
    """One problem, located by JSON path (body), or by parameter name."""

    location: str
    message: str


class ErrorBody(BaseModel):
    """What every 4xx answer carries."""

    detail: str
    errors: list[ErrorItem] = []


class ApiError(HalosyncError):
    """An error with an HTTP status of its own (401, 403, 404, 409)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        fix: str | None = None,
        errors: list[ErrorItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.status_code = status_code
        self.errors = errors or []
        self.headers = headers


def _location(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "$"
    source, *rest = loc
    if source == "body":
        where = Location("$", "path")
        for part in rest:
            where = Location(where.at(part), "path")
        return where.base
    return ".".join(str(part) for part in loc)


async def _request_validation(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = [
        ErrorItem(
            location=_location(tuple(detail.get("loc", ()))),
            message=describe(str(detail.get("type", "")), str(detail.get("msg", ""))),
        )
        for detail in error.errors()
    ]
    noun = "error" if len(items) == 1 else "errors"
    body = ErrorBody(
        detail=f"The request has {len(items)} {noun}; nothing was changed.", errors=items
    )
    return JSONResponse(body.model_dump(), status_code=422)


async def _halosync_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HalosyncError)
    if isinstance(error, ImportValidationError):
        return JSONResponse(error.as_dict(), status_code=422)
    errors: list[ErrorItem] = []
    headers: dict[str, str] | None = None
    if isinstance(error, MassCancelError):
        # Said in the API's terms: the override is a query parameter here, not a flag.
        error.fix = MASS_CANCEL_FIX
        refusal = error.refusal
        status = 409
        errors = [
            ErrorItem(
                location="$",
                message=f"would cancel {refusal.would_cancel:,} of {refusal.active:,} "
                "subscriptions; allow_mass_cancel=true goes ahead",
            )
        ]
    elif isinstance(error, ConcurrentImportError | IdempotencyKeyReusedError):
        status = 409
    elif isinstance(error, ApiError):
        status = error.status_code
        errors, headers = error.errors, error.headers
    elif isinstance(error, DatabaseUnavailableError):
        # Locked, every connection taken, or down: the request was fine; later it may pass.
        status, headers = 503, {"Retry-After": str(error.retry_after)}
    elif isinstance(error, HaloError) and error.retryable:
        # HaloPSA is busy or unreachable for now (or asked for a long wait): the same call
        # may succeed later.
        status, headers = 503, {"Retry-After": "60"}
    elif isinstance(error, HaloConfigurationError):
        status = 422
    elif isinstance(error, HaloError):
        status = 502
    elif isinstance(error, NotFoundError):
        status = 404
    elif isinstance(error, ValidationFailedError):
        status = 422
    else:
        status = 400
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    body = ErrorBody(
        detail=redact_text(error.text_for("api")),
        errors=[ErrorItem(location=e.location, message=redact_text(e.message)) for e in errors],
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _http_error(request: Request, error: Exception) -> Response:
    """Starlette's own 404/405s in the API's error shape (other paths keep FastAPI's)."""
    assert isinstance(error, StarletteHTTPException)
    if not request.url.path.startswith("/api/"):
        return await http_exception_handler(request, error)
    detail = error.detail if isinstance(error.detail, str) else "The request was refused."
    if error.status_code == 404 and detail == "Not Found":
        detail = "No such path; see /docs for the API's routes."
    elif error.status_code == 405:
        detail = "This path does not accept that HTTP method; see /docs for what it accepts."
    return JSONResponse(
        ErrorBody(detail=detail).model_dump(),
        status_code=error.status_code,
        headers=dict(error.headers) if error.headers else None,
    )


async def _client_gone(request: Request, _error: Exception) -> Response:
    """A client that disconnected before its body arrived whole (a dropped upload): its
    request was never begun, so nothing changed, and no server error to log or count.
    The answer reaches nobody; it is what the access log records."""
    log.info("request_body_cut_off", method=request.method, path=request.url.path)
    return JSONResponse(
        ErrorBody(
            detail="The client disconnected before the request body arrived whole; "
            "nothing was changed."
        ).model_dump(),
        status_code=400,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error answer look the same and name what is wrong and where."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HalosyncError, _halosync_error)
    # Its own entry, so the UI can answer it with a page (web.ui.install_ui).
    app.add_exception_handler(DatabaseUnavailableError, _halosync_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or invalid API token."},
    403: {"model": ErrorBody, "description": "The token's role may not do this."},
    404: {"model": ErrorBody, "description": "No such workspace for this token."},
    422: {"model": ErrorBody, "description": "Invalid input; nothing was changed."},
}
