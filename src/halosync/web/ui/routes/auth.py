"""Log-in, log-out and the landing redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from halosync.errors import HalosyncError
from halosync.users import authenticate
from halosync.web.ui.context import (
    LOGIN_PATH,
    UiRoute,
    Viewer,
    current_viewer,
    redirect,
    refusal,
    render,
    ui_state,
    web_session,
    workspace_url,
)

router = APIRouter(route_class=UiRoute)


@router.get("/")
def root() -> Response:
    """The web UI is the front page."""
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui")
def landing(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Response:
    """Open the first workspace the user belongs to."""
    if not viewer.workspaces:
        return render(request, "no_workspace.html", {"viewer": viewer})
    return redirect(request, workspace_url(viewer.workspaces[0].workspace_id))


@router.get("/ui/login")
def login_page(request: Request, ended: str = "") -> Response:
    """The log-in form; ``ended`` says why the last session ended (log-out, expiry...)."""
    notice = ui_state(request).sessions.policy.end_message(ended)
    return render(request, "login.html", {"email": "", "notice": notice})


@router.post("/ui/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Check the password (paused after failures per account and per address), then start
    a session under a new token."""
    state = ui_state(request)
    session = web_session(request)
    address = request.client.host if request.client else "unknown"
    # Counted as failed before the password is checked, so a burst sent at once is held to
    # the limit too; the right password forgets it again.
    lockout = state.throttle.attempt(email, address)
    if lockout is not None:
        paused = render(
            request, "login.html", {"email": email, "error": lockout.message()}, status_code=429
        )
        paused.headers["Retry-After"] = str(lockout.seconds)
        return paused
    try:
        with state.database.session() as db:
            user_id = authenticate(db, email, password).id
    except HalosyncError as refused:
        # A busy database is no wrong password: the 503 page (the attempt stays counted,
        # as every attempt whose password check did not succeed).
        text = refusal(refused).text_for("ui")
        return render(
            request,
            "login.html",
            {"email": email, "error": text},
            status_code=401,
        )
    state.throttle.succeeded(email, address)
    state.sessions.log_in(request, session, user_id)
    return redirect(request, "/ui")


@router.post("/ui/logout")
def logout(request: Request) -> Response:
    """End the session, here and for every copy of its cookie."""
    ui_state(request).sessions.log_out(web_session(request))
    return redirect(request, f"{LOGIN_PATH}?ended=logout")


@router.get("/ui/switch")
def switch(
    request: Request, viewer: Annotated[Viewer, Depends(current_viewer)], to: int = 0
) -> Response:
    """The workspace switcher without JavaScript: open the chosen workspace."""
    if any(role.workspace_id == to for role in viewer.workspaces):
        return redirect(request, workspace_url(to))
    return redirect(request, "/ui")
