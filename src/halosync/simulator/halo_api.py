"""Halo's HTTP surface: the token endpoint, discovery endpoints and the entity routes.

Everything here runs synchronously under the state's lock; the ASGI layer
(:mod:`halosync.simulator.app`) wraps it with rate limiting, faults and the request log.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from halosync.simulator.entities import EntityKind, entity_for_route
from halosync.simulator.fieldtypes import ValidationProblem
from halosync.simulator.responses import (
    Response,
    json_response,
    message_response,
    sorry_page,
)
from halosync.simulator.scopes import (
    allows,
    effective_permissions,
    parse_scope_field,
    required_permission,
    unknown_scopes,
)
from halosync.simulator.state import SimulatorState
from halosync.simulator.tokens import TokenGrant

TOKEN_PATHS = frozenset({"/auth/token", "/token"})
_ANONYMOUS = frozenset({"/api/authinfo", "/api/instanceinfo"})


@dataclass(frozen=True)
class HaloRequest:
    """What the handlers need from one HTTP request."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str


def parse_query(query_string: bytes) -> dict[str, str]:
    """Query parameters with lower-cased names (ASP.NET binds them case-insensitively)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return {key.lower(): value for key, value in pairs}


def is_halo_path(path: str) -> bool:
    """Whether a path belongs to the Halo surface (counted by the rate limiter)."""
    lowered = path.lower().rstrip("/")
    return lowered in TOKEN_PATHS or lowered == "/api" or lowered.startswith("/api/")


class HaloApi:
    """Dispatches Halo requests to handlers; returns a response and the caller's client id."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def handle(self, request: HaloRequest) -> tuple[Response, str | None]:
        """Answer one request."""
        path = request.path.lower().rstrip("/") or "/"
        if path in TOKEN_PATHS:
            if request.method != "POST":
                return message_response(405, "The token endpoint only accepts POST."), None
            return self._token(request)
        if path == "/api/authinfo":
            return self._authinfo(request), None
        if path == "/api/instanceinfo":
            return self._instanceinfo(request), None
        if not path.startswith("/api/"):
            return message_response(404, f"No such endpoint: {request.path}"), None
        grant, refusal = self._authenticate(request)
        if grant is None:
            assert refusal is not None
            return refusal, None
        response = self._entity_route(request, path, grant)
        return response, grant.client_id

    # -- OAuth ---------------------------------------------------------------------------

    def _token(self, request: HaloRequest) -> tuple[Response, str | None]:
        config = self.state.config
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in content_type.lower():
            return _oauth_error(
                400,
                "invalid_request",
                "The token request must be sent as application/x-www-form-urlencoded.",
            ), None
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        tenant = request.query.get("tenant") or form.get("tenant") or ""
        if config.tenant is not None and tenant.strip().lower() != config.tenant.lower():
            # Real hosted Halo answers a missing or wrong tenant with its HTML error page.
            return sorry_page(reference="tenant"), None
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = _basic_credentials(request.headers.get("authorization", ""))
        if basic is not None:
            client_id, client_secret = basic
        grant_type = form.get("grant_type", "")
        if grant_type != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                f"The grant type {grant_type!r} is not supported; use client_credentials.",
            ), None
        application = self.state.application(client_id)
        if application is None or not hmac.compare_digest(
            application.client_secret.encode(), client_secret.encode()
        ):
            return _oauth_error(
                401, "invalid_client", "The specified client credentials are invalid."
            ), None
        requested = parse_scope_field(form.get("scope"))
        bad = unknown_scopes(requested)
        if bad:
            return _oauth_error(
                400,
                "invalid_scope",
                f"The specified 'scope' is invalid: {' '.join(bad)} is not a known scope.",
            ), client_id
        allowed = set(application.scopes)
        granted = tuple(s for s in requested if "all" in allowed or s in allowed)
        permissions = effective_permissions(granted)
        issuer = request.base_url + "/auth"
        access_token, _grant, id_token = self.state.tokens.issue(
            client_id, granted, permissions, config.token_lifetime_seconds, issuer
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": config.token_lifetime_seconds,
            "refresh_token": "",
            "id_token": id_token,
        }
        if granted:
            body["scope"] = " ".join(granted)
        return json_response(
            200, body, {"cache-control": "no-store", "pragma": "no-cache"}
        ), client_id

    def _authenticate(self, request: HaloRequest) -> tuple[TokenGrant | None, Response | None]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, _unauthorized("No bearer token was sent.")
        grant, reason = self.state.tokens.lookup(token.strip())
        if grant is None:
            return None, _unauthorized(reason)
        return grant, None

    def _authinfo(self, request: HaloRequest) -> Response:
        return json_response(
            200,
            {
                "auth_url": request.base_url + "/auth",
                "tenant_id": self.state.config.tenant or "",
                "resource_server": request.base_url + "/api",
            },
        )

    def _instanceinfo(self, request: HaloRequest) -> Response:
        return json_response(
            200,
            {
                "app_name": "Halo PSA",
                "app_version": self.state.config.app_version,
                "auth_url": request.base_url + "/auth",
                "resource_url": request.base_url + "/api",
                "tenant": self.state.config.tenant or "",
                "is_hosted": self.state.config.tenant is not None,
            },
        )

    # -- entities ------------------------------------------------------------------------

    def _entity_route(self, request: HaloRequest, path: str, grant: TokenGrant) -> Response:
        segments = [unquote(part) for part in path.split("/")[2:]]
        kind = entity_for_route(segments[0]) if segments else None
        if kind is None or len(segments) > 2:
            return message_response(404, f"No such endpoint: {request.method} {request.path}")
        needed = required_permission(kind.resource, request.method)
        if not allows(grant.permissions, needed):
            if self.state.detail_permission_status == 401 and _is_detail(segments):
                # Real Halo's detail endpoints answer a missing module permission this way.
                return message_response(401, "Authorization has been denied for this request.")
            return message_response(
                403,
                f"Access denied: this API application's token lacks the {needed} permission "
                f"needed for {request.method} /api/{kind.name}.",
                permission=needed,
            )
        if len(segments) == 2 and segments[1] in ("updatelines", "lines") and kind.has_lines:
            if request.method != "POST":
                return _method_not_allowed(request)
            return self._post_lines(request, kind)
        if len(segments) == 1:
            if request.method == "GET":
                return self._list(request, kind)
            if request.method == "POST":
                return self._post(request, kind)
            return _method_not_allowed(request)
        try:
            record_id = int(segments[1])
        except ValueError:
            return self._invalid(
                ValidationProblem({"id": [f"The value '{segments[1]}' is not valid."]})
            )
        if request.method == "GET":
            return self._get(kind, record_id)
        if request.method == "DELETE":
            return self._delete(kind, record_id)
        return _method_not_allowed(request)

    def _list(self, request: HaloRequest, kind: EntityKind) -> Response:
        config = self.state.config
        params = request.query
        errors: dict[str, list[str]] = {}
        ids = self.state.store.query_ids(kind, params, errors)
        paginate = params.get("pageinate", "").lower() == "true"
        page_no = 1
        if paginate:
            page_size = _positive(params, "page_size", config.default_page_size, errors)
            page_size = min(page_size, config.max_page_size)
            page_no = _positive(params, "page_no", 1, errors)
            start = (page_no - 1) * page_size
            page_ids = ids[start : start + page_size]
        else:
            page_size = _positive(params, "count", config.default_count, errors)
            page_ids = ids[:page_size]
        if errors:
            return self._invalid(ValidationProblem(errors))
        include_lines = params.get("includelines", "").lower() == "true"
        store = self.state.store
        table = store.tables[kind.table]
        if params.get("idonly", "").lower() == "true" and not paginate:
            rows: list[dict[str, Any]] = [{"id": record_id} for record_id in page_ids]
        else:
            rows = [
                store.render(kind, table[record_id], full=False, lines=include_lines)
                for record_id in page_ids
            ]
        if config.bare_list_arrays and kind.bare_array_quirk:
            return json_response(200, rows)
        if not paginate:
            # Only a paged answer says which page it is; clients look for exactly this shape.
            return json_response(200, {"record_count": len(ids), kind.list_key: rows})
        return json_response(
            200,
            {
                "page_no": page_no,
                "page_size": page_size,
                "record_count": len(ids),
                kind.list_key: rows,
            },
        )

    def _get(self, kind: EntityKind, record_id: int) -> Response:
        row = self.state.store.get_row(kind, record_id)
        if row is None:
            return message_response(404, f"{kind.name} {record_id} was not found.")
        return json_response(200, self.state.store.render(kind, row))

    def _delete(self, kind: EntityKind, record_id: int) -> Response:
        if not self.state.store.delete(kind, record_id):
            return message_response(404, f"{kind.name} {record_id} was not found.")
        return json_response(200, {"id": record_id})

    def _invalid(self, problem: ValidationProblem) -> Response:
        return json_response(400, problem.body(self.state.config.validation_body))

    def _post(self, request: HaloRequest, kind: EntityKind) -> Response:
        elements, problem = _array_body(request.body, kind)
        if problem is not None:
            return self._invalid(problem)
        store = self.state.store
        try:
            ids = store.upsert(kind, elements, self.state.clock.isoformat())
        except ValidationProblem as invalid:
            return self._invalid(invalid)
        saved = [store.render(kind, store.tables[kind.table][record_id]) for record_id in ids]
        return json_response(201, self._post_shape(kind, saved))

    def _post_lines(self, request: HaloRequest, kind: EntityKind) -> Response:
        elements, problem = _array_body(request.body, kind)
        if problem is not None:
            return self._invalid(problem)
        store = self.state.store
        try:
            pairs = store.upsert_lines(kind, elements, self.state.clock.isoformat())
        except ValidationProblem as invalid:
            return self._invalid(invalid)
        saved: list[dict[str, Any]] = []
        for header_id, line_id in pairs:
            rendered = store.render(kind, store.tables[kind.table][header_id])
            saved.extend(line for line in rendered["lines"] if line["id"] == line_id)
        return json_response(201, self._post_shape(kind, saved))

    def _post_shape(self, kind: EntityKind, saved: list[dict[str, Any]]) -> Any:
        shape = self.state.config.post_response_shape
        if shape == "array":
            return saved
        if shape == "wrapped":
            return {kind.list_key: saved}
        return saved[0] if len(saved) == 1 else saved


def _array_body(body: bytes, kind: EntityKind) -> tuple[list[Any], ValidationProblem | None]:
    try:
        document = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [], ValidationProblem({"$": [f"The request body is not valid JSON: {error}"]})
    if not isinstance(document, list):
        message = f"The JSON value could not be converted to a list of {kind.name}."
        return [], ValidationProblem({"$": [message + " Send a JSON array."]})
    return document, None


def _positive(
    params: Mapping[str, str], name: str, default: int, errors: dict[str, list[str]]
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.setdefault(name, []).append(f"The value '{raw}' is not valid.")
        return default
    if value < 1:
        errors.setdefault(name, []).append(f"{name} must be at least 1, got {value}.")
        return default
    return value


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    return (client_id, secret) if separator else None


def _oauth_error(status: int, code: str, description: str) -> Response:
    return json_response(
        status,
        {"error": code, "error_description": description},
        {"cache-control": "no-store"},
    )


def _unauthorized(reason: str) -> Response:
    response = json_response(401, {"Message": f"Authorization has been denied: {reason}"})
    response.headers["www-authenticate"] = (
        f'Bearer error="invalid_token", error_description="{reason}"'
    )
    return response


def _is_detail(segments: list[str]) -> bool:
    """Whether the route is ``/api/<Entity>/<id>`` (not a list or a lines endpoint)."""
    return len(segments) == 2 and segments[1].lower() not in ("updatelines", "lines")


def _method_not_allowed(request: HaloRequest) -> Response:
    return message_response(405, f"{request.method} is not allowed on {request.path}.")
