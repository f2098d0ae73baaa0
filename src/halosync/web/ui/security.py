"""Web sessions and CSRF for the UI: an opaque cookie, server-side sessions, a CSRF token.

The ``halosync_session`` cookie (HttpOnly, SameSite=Lax, Secure over https) holds only a
random token. Signed in, the token names a row of ``user_session`` (which keeps its
SHA-256, never the token): ending the row — log-out, a password change, an administrator,
idle or absolute expiry — ends the session for every copy of the cookie. Signed out, the
token names nothing and only anchors the CSRF token of the log-in form.

The CSRF token is a keyed digest of the cookie token, so it needs no storage, changes at
every log-in and log-out, and cannot be worked out without the key. Every unsafe request
must echo it in a form field or the ``X-CSRF-Token`` header that htmx sends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from halosync.errors import HalosyncError
from halosync.files import create_private_file_with, explained
from halosync.settings import Settings
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.users.sessions import (
    EndedSession,
    LiveSession,
    SessionPolicy,
    check_session,
    end_session,
    new_token,
    resume_session,
    save_flashes,
    start_session,
    well_formed,
)

SESSION_COOKIE = "halosync_session"
TIMEZONE_COOKIE = "halosync_tz"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_KEY_FILE = "session.key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfError(Exception):
    """An unsafe request without the session's CSRF token."""


SESSION_KEY_BYTES = 32


def load_session_key(settings: Settings) -> bytes:
    """The key CSRF tokens are derived with: from a file in the data dir, made on first use
    (web processes starting at once all read the one that was made first)."""
    path: Path = settings.ensure_data_dir() / SESSION_KEY_FILE
    with explained(path, "the web UI's session key file"):
        if not path.exists():
            create_private_file_with(path, secrets.token_hex(SESSION_KEY_BYTES) + "\n")
        text = path.read_text(encoding="ascii", errors="replace")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < SESSION_KEY_BYTES:
        # An empty or short key would make every CSRF token one anyone can work out.
        raise HalosyncError(
            f"The web UI's session key file {path} is damaged (it must hold "
            f"{SESSION_KEY_BYTES * 2} hexadecimal digits).",
            fix=f"Delete {path} and start halosync again: a new key is made and everyone "
            "signed in to the web UI signs in again.",
        )
    return key


@dataclass
class WebSession:
    """This request's session: the cookie token, the signed-in user (if any), flashes.

    ``cookie_changed`` says the cookie must be sent again; ``flashes_changed`` that the
    stored messages must be written.
    """

    token: str = field(default_factory=new_token)
    csrf: str = ""
    user_id: int | None = None
    session_id: int | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)
    ended: str | None = None
    cookie_changed: bool = False
    flashes_changed: bool = False

    def flash(self, kind: str, text: str) -> None:
        """Queue a message for the next page shown (kind: success, error, info).

        Only a signed-in session keeps messages; the log-in page is told why a session
        ended through its ``ended`` query parameter instead.
        """
        if self.session_id is not None:
            self.flashes.append((kind, text))
            self.flashes_changed = True

    def take_flashes(self) -> list[tuple[str, str]]:
        """The queued messages, once."""
        taken, self.flashes = self.flashes, []
        if taken:
            self.flashes_changed = True
        return taken


class SessionManager:
    """Reads, starts and ends web sessions, and writes the cookie."""

    def __init__(
        self,
        key: bytes,
        database: Database,
        policy: SessionPolicy,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._key = key
        self.database = database
        self.policy = policy
        self._clock = clock

    def csrf_for(self, token: str) -> str:
        """The CSRF token that goes with a cookie token."""
        return hmac.new(self._key, f"csrf:{token}".encode(), hashlib.sha256).hexdigest()

    def _anonymous(self, token: str | None = None, *, ended: str | None = None) -> WebSession:
        fresh = token is None
        chosen = token if token is not None else new_token()
        return WebSession(
            token=chosen, csrf=self.csrf_for(chosen), ended=ended, cookie_changed=fresh
        )

    def throwaway(self) -> WebSession:
        """A session for a page drawn outside any route (an error page): never saved."""
        session = self._anonymous()
        session.cookie_changed = False
        return session

    def load(self, request: Request) -> WebSession:
        """The request's session; a signed-out one (with a new token when needed) otherwise."""
        token = request.cookies.get(SESSION_COOKIE)
        if token is None or not well_formed(token):
            return self._anonymous()
        now = self._clock()
        # Read only, so a page load never queues behind a writer (an import's transaction);
        # the session is written at most once a minute (or when it ends).
        with self.database.reading() as db:
            check = check_session(db, token, now=now, policy=self.policy)
        found = check.found
        if check.must_write:
            with self.database.session() as db:
                found = resume_session(db, token, now=now, policy=self.policy)
        if isinstance(found, LiveSession):
            return WebSession(
                token=token,
                csrf=self.csrf_for(token),
                user_id=found.user_id,
                session_id=found.id,
                flashes=found.flashes,
            )
        if isinstance(found, EndedSession):
            # A dead session's token is never reused, not even for the log-in form.
            return self._anonymous(ended=found.reason)
        return self._anonymous(token)

    def log_in(self, request: Request, session: WebSession, user_id: int) -> None:
        """Start a session for ``user_id`` under a new token (no session fixation)."""
        if session.session_id is not None:
            self.log_out(session)
        agent = request.headers.get("user-agent")
        with self.database.session() as db:
            token, session_id = start_session(
                db,
                user_id,
                now=self._clock(),
                policy=self.policy,
                address=request.client.host if request.client else None,
                user_agent=agent,
            )
        session.token, session.csrf = token, self.csrf_for(token)
        session.user_id, session.session_id = user_id, session_id
        session.flashes, session.flashes_changed = [], False
        session.cookie_changed = True

    def log_out(self, session: WebSession) -> None:
        """End the session everywhere and carry on signed out under a new token."""
        with self.database.session() as db:
            end_session(db, session.token, "logout", now=self._clock())
        fresh = self._anonymous()
        session.token, session.csrf = fresh.token, fresh.csrf
        session.user_id = session.session_id = None
        session.flashes, session.flashes_changed = [], False
        session.cookie_changed = True

    def save(self, request: Request, response: Response, session: WebSession) -> None:
        """Store changed flashes and (re)send the cookie when the token changed."""
        if session.flashes_changed and session.session_id is not None:
            with self.database.session() as db:
                save_flashes(db, session.session_id, session.flashes)
        if not session.cookie_changed:
            return
        signed_in = session.user_id is not None
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            # Signed out: a browser-session cookie. Signed in: no longer than the server
            # keeps the session (the server decides either way).
            max_age=int(self.policy.absolute.total_seconds()) if signed_in else None,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )


def check_csrf(session: WebSession, submitted: str | None) -> None:
    """Raise :class:`CsrfError` unless ``submitted`` is the session's token."""
    if not submitted or not secrets.compare_digest(submitted, session.csrf):
        raise CsrfError("The form has expired or did not come from this site; reload the page.")
