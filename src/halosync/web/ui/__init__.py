"""The web UI: server-rendered pages (Jinja2 + vendored htmx) over the service functions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.users import LoginRateLimiter
from halosync.web.ui.context import LOGIN_PATH, TEMPLATES_DIR, LoginRequired, UiState, render
from halosync.web.ui.routes import router
from halosync.web.ui.security import SessionCodec, load_session_key
from halosync.web.ui.static import STATIC_DIR

__all__ = ["install_ui"]


_ERROR_TITLES = {403: "Not allowed", 404: "Not found", 405: "Not allowed", 422: "Not valid"}


def _ui_errors(api_handler: Callable[[Request, Any], Response | Awaitable[Response]]) -> Any:
    """Errors under /ui as pages people read; everywhere else the API's JSON error shape."""

    async def handle(request: Request, error: Exception) -> Response:
        if not request.url.path.startswith("/ui") or not isinstance(error, HTTPException):
            answer = api_handler(request, error)
            return await answer if inspect.isawaitable(answer) else answer
        status = error.status_code
        message = error.detail if isinstance(error.detail, str) else "The request was refused."
        if status == 404 and message == "Not Found":
            message = "There is nothing here."
        if request.headers.get("hx-request") == "true":
            # An htmx swap shows the sentence in place of the part it was updating.
            fragment = f'<div class="result-fail" role="alert">{escape(message)}</div>'
            return HTMLResponse(fragment, status)
        return render(
            request,
            "error.html",
            {"title": _ERROR_TITLES.get(status, "Something went wrong"), "message": message},
            status_code=status,
        )

    return handle


async def _to_login(request: Request, _error: Exception) -> Response:
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": LOGIN_PATH})
    return RedirectResponse(LOGIN_PATH, status_code=303)


def install_ui(
    app: FastAPI,
    settings: Settings,
    database: Database,
    *,
    limiter: LoginRateLimiter | None = None,
) -> UiState:
    """Add the UI's routes and static files to ``app`` (the one line in ``create_app``)."""
    box = SecretBox.from_settings(settings)
    state = UiState(
        settings=settings,
        database=database,
        box=box,
        codec=SessionCodec(load_session_key(settings)),
        limiter=limiter or LoginRateLimiter(),
        templates=Jinja2Templates(directory=TEMPLATES_DIR),
    )
    app.state.ui = state
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
    api_handler = app.exception_handlers.get(HTTPException)
    if api_handler is not None:
        app.add_exception_handler(HTTPException, _ui_errors(api_handler))
    return state
