"""Coercing posted JSON values to the types of Halo's schema, the way its model binder does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from halosync.simulator.clock import halo_datetime

_NOT_CONVERTIBLE = "The JSON value could not be converted to {type}: {value}."
# The ISO 8601 shapes a .NET DateTime binder reads: a date, optionally a time ('T' or a
# space), optional fraction up to 7 digits (100 ns ticks), optional Z or offset. Whether
# the numbers make a real date is left to datetime (2026-13-45 and 25:00 are refused).
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)

ValidationBody = Literal["flat", "problem_details"]


class ValidationProblem(Exception):
    """Input Halo refuses: field path (``[0].client_id``) -> messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {path: list(messages) for path, messages in errors.items()}
        summary = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in self.errors.items())
        super().__init__(summary)

    def body(self, shape: ValidationBody = "flat") -> dict[str, Any]:
        """The JSON body of the 400 response.

        Halo answers the field errors flat at the top level; ``problem_details`` wraps them
        the way a stock ASP.NET Core API does, for clients that must read both.
        """
        if shape == "flat":
            return dict(self.errors)
        return {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": self.errors,
        }


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _date_time(value: Any) -> tuple[Any, str | None]:
    """A posted date as Halo stores and answers it: UTC, ISO 8601 without an offset."""
    if not isinstance(value, str):
        return None, f"Error converting value {_describe(value)} to type 'System.DateTime'."
    text = value.strip()
    if _DATE_TIME.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            return halo_datetime(moment), None
    return None, f"Could not convert string to DateTime: {text[:60]}."


def coerce_value(json_type: str, value: Any) -> tuple[Any, str | None]:
    """``value`` converted to ``json_type`` (OpenAPI type name, or ``date-time`` for its
    ``format: date-time`` strings), or an error message."""
    if json_type == "integer":
        if isinstance(value, bool):
            return None, _NOT_CONVERTIBLE.format(type="an integer", value=_describe(value))
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        if isinstance(value, str):
            try:
                return int(value.strip()), None
            except ValueError:
                pass
        return None, _NOT_CONVERTIBLE.format(type="an integer", value=_describe(value))
    if json_type == "number":
        if isinstance(value, bool):
            return None, _NOT_CONVERTIBLE.format(type="a number", value=_describe(value))
        if isinstance(value, int | float):
            return float(value), None
        if isinstance(value, str):
            try:
                return float(value.strip()), None
            except ValueError:
                pass
        return None, _NOT_CONVERTIBLE.format(type="a number", value=_describe(value))
    if json_type == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", None
        return None, _NOT_CONVERTIBLE.format(type="a boolean", value=_describe(value))
    if json_type == "date-time":
        return _date_time(value)
    if json_type == "string":
        if isinstance(value, str):
            return value, None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value), None
        return None, _NOT_CONVERTIBLE.format(type="a string", value=_describe(value))
    if json_type == "array":
        if isinstance(value, list):
            return value, None
        return None, _NOT_CONVERTIBLE.format(type="an array", value=_describe(value))
    if isinstance(value, dict):
        return value, None
    return None, _NOT_CONVERTIBLE.format(type="an object", value=_describe(value))


def coerce_fields(
    fields: Mapping[str, str],
    element: Mapping[str, Any],
    path: str,
    errors: dict[str, list[str]],
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The schema fields of ``element`` with their values converted.

    Unknown fields are dropped (Halo ignores them); ``null`` means "not given", so an
    update keeps the stored value, and so does a blank date (a nullable DateTime binds
    "" to null). Conversion errors land in ``errors`` under ``<path>.<field>``.
    """
    clean: dict[str, Any] = {}
    for key, value in element.items():
        if key in skip or value is None or key not in fields:
            continue
        if fields[key] == "date-time" and isinstance(value, str) and not value.strip():
            continue
        converted, problem = coerce_value(fields[key], value)
        if problem is not None:
            errors.setdefault(f"{path}.{key}", []).append(problem)
        else:
            clean[key] = converted
    return clean
