"""The web UI: server-rendered pages (Jinja2 + vendored htmx) over the service functions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from halosync.domain.models import plain_number
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database, DatabaseUnavailableError
from halosync.users import LoginLimits, LoginThrottle
from halosync.users.sessions import SessionPolicy
from halosync.web.ui.context import (
    LOGIN_PATH,
    TEMPLATES_DIR,
    LoginRequired,
    UiState,
    render,
    ui_state,
)
from halosync.web.ui.routes import router
from halosync.web.ui.security import SessionManager, load_session_key
from halosync.web.ui.shown import exact, shown_on_page
from halosync.web.ui.static import STATIC_DIR

__all__ = ["install_ui"]


_ERROR_TITLES = {
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    422: "Not valid",
    503: "Busy: try again shortly",
}
_HandledError = HTTPException | RequestValidationError | DatabaseUnavailableError
NOTHING_HERE = "There is nothing here."


def is_ui_path(path: str) -> bool:
    """Whether ``path`` belongs to the web UI (``/uix`` does not)."""
    return path == "/ui" or path.startswith("/ui/")


def _ui_refusal(request: Request, error: _HandledError) -> tuple[int, str]:
    """The status and the sentence a person reads for a refused UI request."""
    if isinstance(error, DatabaseUnavailableError):
        return 503, error.text_for("ui")
    if isinstance(error, RequestValidationError):
        problems = list(error.errors())
        if any(tuple(problem.get("loc", ()))[:1] == ("path",) for problem in problems):
            # /ui/w/abc names no workspace: nothing is there, whatever the spelling.
            return 404, NOTHING_HERE
        fields = sorted({str(tuple(p.get("loc", ("?",)))[-1]) for p in problems})
        return 422, "The form was incomplete or not valid: check " + ", ".join(fields) + "."
    status = error.status_code
    message = error.detail if isinstance(error.detail, str) else "The request was refused."
    if status == 404 and message == "Not Found":
        message = NOTHING_HERE
    elif status == 405 and message == "Method Not Allowed":
        message = f"This page does not accept {request.method} requests."
    return status, message


def _ui_errors(api_handler: Callable[[Request, Any], Response | Awaitable[Response]]) -> Any:
    """Errors under /ui as pages people read; everywhere else the API's handler.

    A URL no route matches (or a wrong method) never ran :class:`UiRoute`, so the page is
    drawn without a session: it shows no forms and sets no cookie.
    """

    async def handle(request: Request, error: Exception) -> Response:
        if not is_ui_path(request.url.path) or not isinstance(error, _HandledError):
            answer = api_handler(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        status, message = _ui_refusal(request, error)
        headers = dict(error.headers or {}) if isinstance(error, HTTPException) else None
        if isinstance(error, DatabaseUnavailableError):
            headers = {"Retry-After": str(error.retry_after)}
        if request.headers.get("hx-request") == "true":
            # An htmx swap shows the sentence in place of the part it was updating.
            fragment = f'<div class="result-fail" role="alert">{escape(message)}</div>'
            return HTMLResponse(fragment, status, headers=headers)
        if getattr(request.state, "web_session", None) is None:
            request.state.web_session = ui_state(request).sessions.throwaway()
        response = render(
            request,
            "error.html",
            {"title": _ERROR_TITLES.get(status, "Something went wrong"), "message": message},
            status_code=status,
        )
        response.headers.update(headers or {})
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return handle


async def _to_login(request: Request, error: Exception) -> Response:
    url = error.url if isinstance(error, LoginRequired) else LOGIN_PATH
    response: Response = (
        Response(status_code=204, headers={"HX-Redirect": url})
        if request.headers.get("hx-request") == "true"
        else RedirectResponse(url, status_code=303)
    )
    # The session was dropped while the route ran: the browser gets its new token.
    session = getattr(request.state, "web_session", None)
    if session is not None:
        await run_in_threadpool(ui_state(request).sessions.save, request, response, session)
    return response


def install_ui(
    app: FastAPI,
    settings: Settings,
    database: Database,
    *,
    throttle: LoginThrottle | None = None,
) -> UiState:
    """Add the UI's routes and static files to ``app`` (the one line in ``create_app``)."""
    box = SecretBox.from_settings(settings)
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    # Every value a page shows goes through the one rule for stored text (a name kept from
    # before it was refused, HaloPSA's names): a bidirectional control is shown escaped.
    templates.env.finalize = shown_on_page
    templates.env.filters["exact"] = exact
    # A count as people write it: an invoice line's 10.0000 reads 10.
    templates.env.filters["number"] = plain_number
    state = UiState(
        settings=settings,
        database=database,
        box=box,
        sessions=SessionManager(
            load_session_key(settings), database, SessionPolicy.from_settings(settings)
        ),
        throttle=throttle or LoginThrottle(database, LoginLimits.from_settings(settings)),
        templates=templates,
    )
    app.state.ui = state
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
    for kind in (HTTPException, RequestValidationError, DatabaseUnavailableError):
        api_handler = app.exception_handlers.get(kind)
        if api_handler is not None:
            app.add_exception_handler(kind, _ui_errors(api_handler))
    return state
