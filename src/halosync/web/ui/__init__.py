"""The web UI: server-rendered pages (Jinja2 + vendored htmx) over the service functions."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.users import LoginRateLimiter
from halosync.web.ui.context import LOGIN_PATH, TEMPLATES_DIR, LoginRequired, UiState
from halosync.web.ui.routes import router
from halosync.web.ui.security import SessionCodec, load_session_key
from halosync.web.ui.static import STATIC_DIR

__all__ = ["install_ui"]


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
    return state
