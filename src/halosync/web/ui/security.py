"""Web sessions and CSRF for the UI: a signed cookie, a per-session token, log-in checks.

The session lives in one signed cookie (HttpOnly, SameSite=Lax, Secure over https): the
user id, a fingerprint of the password hash (changing the password ends every session),
the CSRF token and one-shot flash messages. Every unsafe request must echo the CSRF token
in a form field or the ``X-CSRF-Token`` header that htmx sends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from halosync.settings import Settings

SESSION_COOKIE = "halosync_session"
TIMEZONE_COOKIE = "halosync_tz"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_MAX_AGE_SECONDS = 12 * 3600
SESSION_KEY_FILE = "session.key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfError(Exception):
    """An unsafe request without the session's CSRF token."""


def load_session_key(settings: Settings) -> bytes:
    """The key that signs session cookies: from a file in the data dir, created on first use."""
    path: Path = settings.ensure_data_dir() / SESSION_KEY_FILE
    if not path.exists():
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="ascii")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def password_fingerprint(key: bytes, password_hash: str) -> str:
    """A short keyed digest of the password hash; a new password gives a new one."""
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()[:24]


@dataclass
class WebSession:
    """The decoded session cookie; ``changed`` says whether it must be sent again."""

    user_id: int | None = None
    fingerprint: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    flashes: list[tuple[str, str]] = field(default_factory=list)
    changed: bool = False

    def flash(self, kind: str, text: str) -> None:
        """Queue a message for the next page shown (kind: success, error, info)."""
        self.flashes.append((kind, text))
        self.changed = True

    def take_flashes(self) -> list[tuple[str, str]]:
        """The queued messages, once."""
        taken, self.flashes = self.flashes, []
        if taken:
            self.changed = True
        return taken

    def log_in(self, user_id: int, fingerprint: str) -> None:
        """Start an authenticated session with a fresh CSRF token (no session fixation)."""
        self.user_id = user_id
        self.fingerprint = fingerprint
        self.csrf = secrets.token_urlsafe(32)
        self.changed = True

    def log_out(self) -> None:
        """Forget the user and rotate the CSRF token."""
        self.user_id = None
        self.fingerprint = None
        self.csrf = secrets.token_urlsafe(32)
        self.flashes = []
        self.changed = True


class SessionCodec:
    """Signs and reads the session cookie."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._serializer = URLSafeTimedSerializer(key, salt="halosync.web.session")

    def load(self, request: Request) -> WebSession:
        """The request's session, or a fresh one (marked changed) when absent or invalid."""
        raw = request.cookies.get(SESSION_COOKIE)
        if raw:
            try:
                data: Any = self._serializer.loads(raw, max_age=SESSION_MAX_AGE_SECONDS)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                user_id = data.get("uid")
                return WebSession(
                    user_id=user_id if isinstance(user_id, int) else None,
                    fingerprint=data.get("fp") if isinstance(data.get("fp"), str) else None,
                    csrf=data["csrf"],
                    flashes=[
                        (str(kind), str(text))
                        for kind, text in data.get("flash", [])
                        if isinstance(kind, str) and isinstance(text, str)
                    ],
                )
        return WebSession(changed=True)

    def save(self, request: Request, response: Response, session: WebSession) -> None:
        """Write the cookie on the response when the session changed (or is about to expire)."""
        data: dict[str, Any] = {
            "uid": session.user_id,
            "fp": session.fingerprint,
            "csrf": session.csrf,
        }
        if session.flashes:
            data["flash"] = session.flashes
        response.set_cookie(
            SESSION_COOKIE,
            self._serializer.dumps(data),
            max_age=SESSION_MAX_AGE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )


def check_csrf(session: WebSession, submitted: str | None) -> None:
    """Raise :class:`CsrfError` unless ``submitted`` is the session's token."""
    if not submitted or not secrets.compare_digest(submitted, session.csrf):
        raise CsrfError("The form has expired or did not come from this site; reload the page.")
