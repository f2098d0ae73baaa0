"""What every UI route shares: app-wide state, the session, the signed-in viewer, rendering.

:class:`UiRoute` wraps each UI handler: it loads the session, refuses unsafe requests
without the CSRF token, and writes the session cookie back on the way out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from halosync.domain.ages import humanize_age
from halosync.errors import HalosyncError
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database, DatabaseUnavailableError
from halosync.sync.progress import progress_text
from halosync.users import LoginThrottle, WorkspaceRole
from halosync.users.permissions import Action, PermissionDeniedError, require_permission
from halosync.users.service import signed_in_user
from halosync.web.ui.launcher import blocked_text
from halosync.web.ui.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    TIMEZONE_COOKIE,
    UNSAFE_METHODS,
    CsrfError,
    SessionManager,
    WebSession,
    check_csrf,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"
MAX_FORM_FIELDS = 300_000
"""Fields a UI form may post: Suggest Mappings' page posts three a row (100,000 rows).
Starlette's default, 1,000, refused a page of 334 suggestions or more ("Too many fields");
the bytes are bounded by the body limit (``HALOSYNC_MAX_UPLOAD_MB``)."""
RefusalT = TypeVar("RefusalT", bound=HalosyncError)
LOGIN_PATH = "/ui/login"


@dataclass
class UiState:
    """Everything the UI needs that lives as long as the app."""

    settings: Settings
    database: Database
    box: SecretBox
    sessions: SessionManager
    throttle: LoginThrottle
    templates: Jinja2Templates


def ui_state(request: Request) -> UiState:
    """The app's UI state."""
    state = request.app.state.ui
    assert isinstance(state, UiState)
    return state


def web_session(request: Request) -> WebSession:
    """The session :class:`UiRoute` loaded for this request."""
    session = request.state.web_session
    assert isinstance(session, WebSession)
    return session


class UiRoute(APIRoute):
    """Session in, CSRF checked, session cookie out — for every UI route.

    The session is read and written in the thread pool: the event loop never waits for the
    database (handlers are plain ``def`` for the same reason, unless they await HaloPSA).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_session(request: Request) -> Response:
            state = ui_state(request)
            session = await run_in_threadpool(state.sessions.load, request)
            request.state.web_session = session
            if request.method in UNSAFE_METHODS:
                # Parsed here, with the UI's limit, for the handler too (Starlette keeps it).
                form = await request.form(max_fields=MAX_FORM_FIELDS)
                submitted = request.headers.get(CSRF_HEADER)
                if submitted is None:
                    value = form.get(CSRF_FIELD)
                    submitted = value if isinstance(value, str) else None
                try:
                    check_csrf(session, submitted)
                except CsrfError as refused:
                    return HTMLResponse(str(refused), status_code=403)
            response = await handler(request)
            await run_in_threadpool(state.sessions.save, request, response, session)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return with_session


class LoginRequired(Exception):
    """No signed-in user: send the browser to the log-in page (saying why a session ended)."""

    def __init__(self, ended: str | None = None) -> None:
        super().__init__(ended)
        self.ended = ended

    @property
    def url(self) -> str:
        """The log-in page, with the reason the session ended when there is one."""
        return f"{LOGIN_PATH}?ended={self.ended}" if self.ended else LOGIN_PATH


@dataclass(frozen=True)
class Viewer:
    """The signed-in user and the workspaces they may open."""

    user_id: int
    name: str
    email: str
    workspaces: tuple[WorkspaceRole, ...]


@dataclass(frozen=True)
class Member:
    """The signed-in user inside one workspace, with their role there."""

    viewer: Viewer
    workspace: WorkspaceRole

    @property
    def workspace_id(self) -> int:
        """The workspace's id."""
        return self.workspace.workspace_id

    @property
    def can_write(self) -> bool:
        """Admins change things; viewers only read."""
        return self.workspace.can_write


def _load_viewer(state: UiState, session: WebSession) -> Viewer | None:
    if session.user_id is None:
        return None
    with state.database.reading() as db:
        user = signed_in_user(db, session.user_id)
    if user is None:
        return None
    return Viewer(user.id, user.name, user.email, user.memberships)


def current_viewer(request: Request) -> Viewer:
    """The signed-in user, or a redirect to the log-in page."""
    state = ui_state(request)
    session = web_session(request)
    viewer = _load_viewer(state, session)
    if viewer is None:
        if session.user_id is not None:
            state.sessions.log_out(session)
        raise LoginRequired(session.ended)
    return viewer


def current_member(workspace_id: int, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Member:
    """The viewer inside the workspace in the path; 404 when they are not a member.

    "Not found" rather than "forbidden": another workspace's existence is not revealed.
    """
    for role in viewer.workspaces:
        if role.workspace_id == workspace_id:
            return Member(viewer, role)
    raise HTTPException(404, "No such workspace.")


def member_who_may(action: Action) -> Callable[[Member], Member]:
    """A dependency: the member, if their role allows ``action`` (else a 403 page)."""

    def permitted(member: Annotated[Member, Depends(current_member)]) -> Member:
        try:
            require_permission(
                member.workspace.role, action, holder="Your account in this workspace"
            )
        except PermissionDeniedError as denied:
            raise HTTPException(403, denied.message) from None
        return member

    return permitted


current_admin = member_who_may(Action.CHANGE)
"""The member, if they are an admin of the workspace; 403 for viewers."""
current_dry_runner = member_who_may(Action.DRY_RUN)
"""The member, if their role may make a dry run (it reads HaloPSA and records a run)."""


def refusal(error: RefusalT) -> RefusalT:
    """``error``, for a route to show as why its request was refused (a flash, an inline
    error). A database too busy to answer (locked, every connection taken, down) refuses
    nothing about the request: it is raised again, so every UI route answers it with the
    503 "try again shortly" page and Retry-After (``install_ui``), as the API does."""
    if isinstance(error, DatabaseUnavailableError):
        raise error
    return error


def viewer_zone(request: Request) -> ZoneInfo:
    """The viewer's time zone, from the cookie the browser's Intl API set (UTC without it)."""
    # The browser URL-encodes the zone name ("Europe%2FWarsaw").
    name = unquote(request.cookies.get(TIMEZONE_COOKIE, "UTC"))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_label(zone: ZoneInfo, now: datetime) -> str:
    """ "UTC+02:00 Europe/Warsaw"."""
    offset = now.astimezone(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d} {zone.key}"


def local_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """YYYY-MM-DD HH:MM in the viewer's time zone ("—" for never)."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a template with what every page shows (viewer, flashes, CSRF, time helpers)."""
    state = ui_state(request)
    session = web_session(request)
    zone = viewer_zone(request)
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "request": request,
        "csrf_token": session.csrf,
        # Only full pages show (and so use up) the flash messages; fragments leave them.
        "flashes": session.take_flashes,
        "now": now,
        "zone": zone,
        "zone_label": zone_label(zone, now),
        "local_time": lambda moment: local_time(moment, zone),
        "progress_text": lambda progress: progress_text(
            progress, lambda moment: moment.astimezone(zone).strftime("%H:%M")
        ),
        "age": lambda moment: humanize_age(_aware(moment), now) if moment else "never",
        "dom_id": dom_id,
        "blocked_text": blocked_text,
    }
    base.update(context or {})
    response = state.templates.TemplateResponse(request, template, base, status_code=status_code)
    assert isinstance(response, HTMLResponse)
    return response


def dom_id(text: str) -> str:
    """A stable HTML id for a value that may hold any character (an account reference)."""
    return "r" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def redirect(request: Request, url: str) -> Response:
    """See-other to ``url``; htmx requests get ``HX-Redirect`` so the whole page moves."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def workspace_url(workspace_id: int, page: str = "") -> str:
    """The URL of a page of a workspace."""
    return f"/ui/w/{workspace_id}/{page}".rstrip("/") if page else f"/ui/w/{workspace_id}"
