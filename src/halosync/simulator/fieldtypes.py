"""Coercing posted JSON values to the types of Halo's schema, the way its model binder does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NOT_CONVERTIBLE = "The JSON value could not be converted to {type}: {value}."


class ValidationProblem(Exception):
    """Input Halo refuses, as ASP.NET's validation problem: field path -> messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {path: list(messages) for path, messages in errors.items()}
        summary = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in self.errors.items())
        super().__init__(summary)

    def body(self) -> dict[str, Any]:
        """The JSON body of the 400 response."""
        return {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": self.errors,
        }


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce_value(json_type: str, value: Any) -> tuple[Any, str | None]:
    """``value`` converted to ``json_type`` (OpenAPI type name), or an error message."""
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
    update keeps the stored value. Conversion errors land in ``errors`` under
    ``<path>.<field>``.
    """
    clean: dict[str, Any] = {}
    for key, value in element.items():
        if key in skip or value is None or key not in fields:
            continue
        converted, problem = coerce_value(fields[key], value)
        if problem is not None:
            errors.setdefault(f"{path}.{key}", []).append(problem)
        else:
            clean[key] = converted
    return clean
