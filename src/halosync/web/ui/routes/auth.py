"""Log-in, log-out and the landing redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from halosync.errors import HalosyncError
from halosync.users import authenticate
from halosync.web.ui.context import (
    UiRoute,
    Viewer,
    current_viewer,
    redirect,
    render,
    ui_state,
    web_session,
    workspace_url,
)
from halosync.web.ui.security import password_fingerprint

router = APIRouter(route_class=UiRoute)


@router.get("/")
async def root() -> Response:
    """The web UI is the front page."""
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui")
async def landing(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Response:
    """Open the first workspace the user belongs to."""
    if not viewer.workspaces:
        return render(request, "no_workspace.html", {"viewer": viewer})
    return redirect(request, workspace_url(viewer.workspaces[0].workspace_id))


@router.get("/ui/login")
async def login_page(request: Request) -> Response:
    """The log-in form."""
    return render(request, "login.html", {"email": ""})


@router.post("/ui/login")
async def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Check the password (rate-limited per email and per address), then start a session."""
    state = ui_state(request)
    session = web_session(request)
    client = request.client.host if request.client else "unknown"
    keys = (f"email:{email.strip().lower()}", f"ip:{client}")
    wait = state.limiter.retry_after(*keys)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return render(
            request,
            "login.html",
            {
                "email": email,
                "error": f"Too many failed log-ins. Try again in {minutes} minute"
                + ("s." if minutes != 1 else "."),
            },
            status_code=429,
        )
    try:
        with state.database.session() as db:
            user = authenticate(db, email, password)
            user_id, fingerprint = (
                user.id,
                password_fingerprint(state.codec.key, user.password_hash),
            )
    except HalosyncError as refused:
        state.limiter.failed(*keys)
        return render(
            request, "login.html", {"email": email, "error": str(refused)}, status_code=401
        )
    state.limiter.succeeded(*keys)
    session.log_in(user_id, fingerprint)
    return redirect(request, "/ui")


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    web_session(request).log_out()
    web_session(request).flash("info", "You have been logged out.")
    return redirect(request, "/ui/login")


@router.get("/ui/switch")
async def switch(
    request: Request, viewer: Annotated[Viewer, Depends(current_viewer)], to: int = 0
) -> Response:
    """The workspace switcher without JavaScript: open the chosen workspace."""
    if any(role.workspace_id == to for role in viewer.workspaces):
        return redirect(request, workspace_url(to))
    return redirect(request, "/ui")
