"""Access tokens the simulator issues: JWT-shaped, expiring, revocable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from halosync.simulator.clock import SimulatedClock


@dataclass(frozen=True)
class TokenGrant:
    """What a bearer token stands for."""

    client_id: str
    scopes: tuple[str, ...]
    permissions: frozenset[str]
    issued_at: float
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenStore:
    """Live tokens by value. A token not in the store (revoked, restarted) is invalid."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self._tokens: dict[str, TokenGrant] = {}
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def issue(
        self,
        client_id: str,
        scopes: tuple[str, ...],
        permissions: frozenset[str],
        lifetime_seconds: int,
        issuer: str,
    ) -> tuple[str, TokenGrant, str]:
        """A new access token, its grant, and an id token (as Halo also returns one)."""
        now = self._clock.now()
        grant = TokenGrant(client_id, scopes, permissions, now, now + lifetime_seconds)
        claims = {
            "iss": issuer,
            "client_id": client_id,
            "scope": list(scopes),
            "iat": int(now),
            "nbf": int(now),
            "exp": int(grant.expires_at),
            "jti": secrets.token_hex(8),
        }
        access_token = self._jwt(claims)
        id_token = self._jwt({"iss": issuer, "sub": client_id, "aud": client_id, "iat": int(now)})
        with self._lock:
            self._tokens[access_token] = grant
        return access_token, grant, id_token

    def lookup(self, token: str) -> tuple[TokenGrant | None, str]:
        """The grant of a live token, or None and why it is refused."""
        with self._lock:
            grant = self._tokens.get(token)
            if grant is None:
                return None, "The access token is not valid."
            if self._clock.now() >= grant.expires_at:
                del self._tokens[token]
                return None, "The access token has expired."
            return grant, ""

    def revoke(self, token: str | None = None) -> int:
        """Revoke one token, or every token when ``token`` is None; return how many."""
        with self._lock:
            if token is None:
                count = len(self._tokens)
                self._tokens.clear()
                return count
            return 1 if self._tokens.pop(token, None) is not None else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
