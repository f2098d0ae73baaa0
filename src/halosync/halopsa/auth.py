"""OAuth2 client-credentials tokens for one Halo instance: cached, refreshed, single-flight.

The tenant goes in the token URL's query string *and* the form body: Halo documents the
query string, some instances are reported to read the form field, and each side ignores
the other, so sending both works everywhere. Blank, "Not set" and "None" mean no tenant.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import httpx2

from halosync.halopsa.clock import Clock
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.errors import (
    BadCredentialsError,
    HaloServerError,
    InvalidScopeError,
    InvalidServerUrlError,
    RequestSummary,
    TokenEndpointError,
)
from halosync.halopsa.exchange import Exchanger
from halosync.halopsa.metrics import HALO_TOKEN_REQUESTS
from halosync.halopsa.statuses import Endpoint, Handling, handling, token_refusal
from halosync.halopsa.transport import halo_message, is_html
from halosync.logging import get_logger, register_secret

log = get_logger(__name__)

DEFAULT_REFRESH_MARGIN_SECONDS = 120.0
REFRESH_MARGIN_SHARE = 0.25
"""The refresh margin is at most this share of a token's lifetime: a token that lives less
than the margin would otherwise be fetched again before every request."""
_FALLBACK_LIFETIME_SECONDS = 3600.0
_REDACT_GRACE_SECONDS = 600.0
_CREDENTIALS_FIX = (
    "Check the tenant, the client ID and that the API application has an agent to log in "
    "as (Configuration > Integrations > HaloPSA API > View Applications > your application "
    "> Login Type: Agent)."
)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when halosync stops trusting it (epoch seconds)."""

    value: str = field(repr=False)
    expires_at: float
    scopes: tuple[str, ...] = ()
    refresh_at: float | None = None
    """When halosync fetches a new one (None: the provider's margin before ``expires_at``)."""


class TokenProvider:
    """Gets, caches and refreshes the access token; concurrent callers share one request."""

    def __init__(
        self,
        config: HaloConnectionConfig,
        exchanger: Exchanger,
        clock: Clock,
        *,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._config = config
        self._exchanger = exchanger
        self._clock = clock
        self._margin = refresh_margin_seconds
        self._token: AccessToken | None = None
        self._issued = config.issued_token_before
        self._lock = asyncio.Lock()
        self.requests_made = 0

    @property
    def current(self) -> AccessToken | None:
        """The cached token, if any (may be stale)."""
        return self._token

    def _fresh(self, token: AccessToken | None) -> bool:
        if token is None:
            return False
        refresh_at = (
            token.expires_at - self._margin if token.refresh_at is None else token.refresh_at
        )
        return self._clock.now() < refresh_at

    async def token(self) -> str:
        """A token valid for at least the refresh margin; fetched at most once at a time."""
        if self._fresh(self._token):
            assert self._token is not None
            return self._token.value
        async with self._lock:
            if not self._fresh(self._token):
                self._token = await self._fetch()
            assert self._token is not None
            return self._token.value

    async def refresh(self, stale: str) -> str:
        """A new token after Halo refused ``stale`` (401); shared if another caller already did."""
        async with self._lock:
            if self._token is None or self._token.value == stale:
                self._token = await self._fetch()
            return self._token.value

    async def _fetch(self) -> AccessToken:
        config = self._config
        tenant = config.effective_tenant
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "scope": " ".join(config.scopes),
        }
        params: dict[str, str] = {}
        if tenant:
            params["tenant"] = tenant
            form["tenant"] = tenant
        summary = RequestSummary.of("POST", config.token_url)
        # Until Halo has issued this connection a token, its 500 is set-up advice (told at
        # once); after that it is a passing fault, resent like any other.
        endpoint: Endpoint = "token" if self._issued else "first_token"
        self.requests_made += 1
        response = await self._exchanger.send(
            "POST",
            config.token_url,
            summary=summary,
            replay_safe=True,
            endpoint=endpoint,
            params=params or None,
            data=form,
            headers={"Accept": "application/json"},
        )
        try:
            token = self._interpret(response, endpoint)
        except Exception:
            HALO_TOKEN_REQUESTS.labels(outcome="refused").inc()
            raise
        self._issued = True
        HALO_TOKEN_REQUESTS.labels(outcome="issued").inc()
        log.info("halo_token_issued", expires_in=round(token.expires_at - self._clock.now()))
        return token

    def _interpret(self, response: httpx2.Response, endpoint: Endpoint) -> AccessToken:
        where = self._config.token_url
        status = response.status_code
        body: object = None
        if not is_html(response):
            try:
                body = response.json()
            except (ValueError, json.JSONDecodeError):
                body = None
        action = handling(status, endpoint)
        if (
            action is Handling.SUCCESS
            and isinstance(body, dict)
            and isinstance(body.get("access_token"), str)
        ):
            value = body["access_token"]
            try:
                lifetime = float(body.get("expires_in") or _FALLBACK_LIFETIME_SECONDS)
            except (TypeError, ValueError):
                lifetime = _FALLBACK_LIFETIME_SECONDS
            # Redaction forgets a token once it is dead (a refresh token may outlive it).
            register_secret(value, expires_in=max(lifetime, 0.0) + _REDACT_GRACE_SECONDS)
            refresh = body.get("refresh_token")
            if isinstance(refresh, str):
                register_secret(refresh)
            scope = body.get("scope")
            scopes = tuple(scope.split()) if isinstance(scope, str) else ()
            now = self._clock.now()
            margin = min(self._margin, max(lifetime, 0.0) * REFRESH_MARGIN_SHARE)
            return AccessToken(value, now + lifetime, scopes, refresh_at=now + lifetime - margin)
        error = body.get("error") if isinstance(body, dict) else None
        description = halo_message(response)
        if action.kind == "retryable":
            raise HaloServerError(
                f"Halo's token endpoint {where} kept failing with HTTP {status} "
                f"({description or 'no explanation'}), although it has issued this "
                "connection tokens before.",
                status=status,
                fix="Most likely a passing fault at Halo: the next sync tries again. If it "
                "persists, check that the API application still has its login agent "
                "(Configuration > Integrations > HaloPSA API > View Applications).",
            )
        if error == "invalid_scope":
            raise InvalidScopeError(
                f"Halo refused the requested permissions ({' '.join(self._config.scopes)}): "
                f"{description}.",
                fix="Make sure the API application's permissions include them; halosync asks "
                "only for what the chosen target needs.",
            )
        refusal = token_refusal(status, html=is_html(response))
        if error in ("invalid_client", "unauthorized_client", "invalid_grant") or (
            refusal == "credentials"
        ):
            raise BadCredentialsError(
                f"Halo refused the client ID / client secret ({description or status}).",
                fix="Copy the client ID and secret again from Configuration > Integrations > "
                "HaloPSA API > View Applications (the client ID can change when the "
                "application is first saved), and check the tenant.",
            )
        if refusal == "address":
            raise InvalidServerUrlError(
                f"There is no token endpoint at {where} (HTTP {status}).",
                fix="Check the authorisation server: it is shown in Halo under Configuration "
                "> Integrations > HaloPSA API > API Details (leave it blank for "
                "<server>/auth).",
            )
        if refusal == "failed":
            raise TokenEndpointError(
                f"Halo's token endpoint {where} failed with HTTP {status} "
                f"({description or 'no explanation'}).",
                fix=_CREDENTIALS_FIX,
            )
        raise TokenEndpointError(
            f"Halo's token endpoint {where} answered HTTP {status} without a token "
            f"({description or 'no explanation'}).",
            fix=_CREDENTIALS_FIX,
        )
