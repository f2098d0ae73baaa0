"""``/_simulator/...``: drive a simulator on a real port (faults, clock, seeding, inspection).

These endpoints are for tests and benchmarks on the local machine; they need no token,
are not rate limited and do not appear in the request log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from halosync.simulator.entities import entity_named
from halosync.simulator.fieldtypes import ValidationProblem
from halosync.simulator.responses import Response, json_response, message_response
from halosync.simulator.state import SimulatorState

PREFIX = "/_simulator"


def _body(raw: bytes) -> tuple[Any, Response | None]:
    if not raw:
        return {}, None
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, message_response(400, f"The request body is not valid JSON: {error}")


def _optional_int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    return int(raw) if raw not in (None, "") else None


def handle_admin(
    state: SimulatorState, method: str, path: str, query: Mapping[str, str], raw_body: bytes
) -> Response:
    """Answer one admin request; errors come back as 400/404 with a message."""
    parts = [part for part in path[len(PREFIX) :].split("/") if part]
    body, problem = _body(raw_body)
    if problem is not None:
        return problem
    try:
        return _route(state, method, parts, query, body)
    except (ValueError, TypeError) as error:
        return message_response(400, str(error))
    except KeyError as error:
        return message_response(404, str(error.args[0]) if error.args else "not found")


def _route(
    state: SimulatorState, method: str, parts: list[str], query: Mapping[str, str], body: Any
) -> Response:
    match method, parts:
        case "GET", ["health"]:
            return json_response(200, {"status": "ok"})
        case "GET", ["state"]:
            return json_response(200, _summary(state))
        case "GET", ["faults"]:
            return json_response(200, [fault.to_dict() for fault in state.faults.all()])
        case "POST", ["faults"]:
            if not isinstance(body, dict) or "kind" not in body:
                raise ValueError("send a JSON object with at least 'kind'")
            allowed = {
                "kind",
                "method",
                "path",
                "times",
                "probability",
                "seconds",
                "query",
                "field",
                "value",
            }
            extra = set(body) - allowed
            if extra:
                raise ValueError(f"unknown fault fields: {', '.join(sorted(extra))}")
            fault = state.faults.inject(**body)
            return json_response(201, fault.to_dict())
        case "DELETE", ["faults"]:
            state.faults.clear()
            return json_response(200, {"cleared": True})
        case "POST", ["faults", fault_id, "release"]:
            return json_response(200, state.faults.release(int(fault_id)).to_dict())
        case "DELETE", ["faults", fault_id]:
            if not state.faults.remove(int(fault_id)):
                raise KeyError(f"there is no fault {fault_id}")
            return json_response(200, {"removed": int(fault_id)})
        case "POST", ["clock", "advance"]:
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                raise ValueError('send {"seconds": <number>}')
            state.clock.advance(float(seconds))
            return json_response(200, {"now": state.clock.isoformat()})
        case "POST", ["tokens", "revoke"]:
            return json_response(200, {"revoked": state.revoke_tokens()})
        case "POST", ["restart"]:
            state.restart()
            return json_response(200, {"restarts": state.restarts})
        case "POST", ["ratelimit", "reset"]:
            state.limiter.reset()
            return json_response(200, {"used": 0})
        case "GET", ["config"]:
            return json_response(200, state.live_config())
        case "PATCH" | "POST", ["config"]:
            if not isinstance(body, dict):
                raise ValueError(
                    "send a JSON object of settings to change: rate_limit, "
                    "rate_window_seconds, retry_after, detail_permission_status"
                )
            return json_response(200, state.configure(body))
        case "GET", ["requests"]:
            entries = state.request_log.filter(
                method=query.get("method"),
                path=query.get("path"),
                status=_optional_int(query, "status"),
            )
            return json_response(200, [entry.to_dict() for entry in entries])
        case "DELETE", ["requests"]:
            state.request_log.clear()
            return json_response(200, {"cleared": True})
        case "POST", ["seed"]:
            try:
                return json_response(200, state.seed(body))
            except ValueError as error:
                cause = error.__cause__
                if isinstance(cause, ValidationProblem):
                    return json_response(400, cause.body())
                raise
        case "GET", ["records", entity]:
            return json_response(200, state.records(entity))
        case "GET", ["records", entity, record_id]:
            record = state.record(entity, int(record_id))
            if record is None:
                raise KeyError(f"there is no {entity_named(entity).name} with id {record_id}")
            return json_response(200, record)
        case "POST", ["records", entity]:
            if not isinstance(body, dict):
                raise ValueError("send a JSON object of the new record's fields")
            return json_response(201, state.create_by_hand(entity, **body))
        case "PATCH" | "POST", ["records", entity, record_id]:
            if not isinstance(body, dict):
                raise ValueError("send a JSON object of the fields to change")
            return json_response(200, state.edit_by_hand(entity, int(record_id), **body))
        case "DELETE", ["records", entity, record_id]:
            state.delete_by_hand(entity, int(record_id))
            return json_response(200, {"deleted": int(record_id)})
    return message_response(
        404, f"No simulator control endpoint {method} {PREFIX}/{'/'.join(parts)}"
    )


def _summary(state: SimulatorState) -> dict[str, Any]:
    with state.lock:
        counts = {table: len(rows) for table, rows in state.store.tables.items()}
    return {
        "now": state.clock.isoformat(),
        "records": counts,
        "live_tokens": len(state.tokens),
        "rate_limit": {
            "limit": state.limiter.limit,
            "window_seconds": state.limiter.window_seconds,
            "used": state.limiter.used(),
            "retry_after": state.limiter.retry_after_setting,
        },
        "tenant": state.config.tenant,
        "applications": [
            {"client_id": app.client_id, "scopes": list(app.scopes), "client_secret": "********"}
            for app in state.config.applications
        ],
        "restarts": state.restarts,
        "requests_logged": len(state.request_log),
    }
