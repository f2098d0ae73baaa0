"""Import errors: each names where (CSV line and column, or JSON path) and what is wrong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from halosync.domain.snapshot import MassCancel
from halosync.domain.text import SURROGATE_PROBLEM
from halosync.errors import ValidationFailedError

# Enough to fix a file; a file with a million bad rows does not need a million lines.
MAX_KEPT_ERRORS = 1000
_SHOWN_IN_MESSAGE = 20


@dataclass(frozen=True, slots=True)
class Location:
    """Where a record came from: ``line 5`` of a file (columns) or a JSON path."""

    base: str
    style: str = "column"  # "column" for CSV rows, "path" for JSON

    def at(self, field: str | int | None = None) -> str:
        """This location, narrowed to one field."""
        if field is None:
            return self.base
        if self.style == "path":
            return f"{self.base}[{field}]" if isinstance(field, int) else f"{self.base}.{field}"
        return f"{self.base}, column {field}"


@dataclass(frozen=True)
class UsageError:
    """One problem in the input."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        """The error as the API and ``--json`` show it."""
        return {"location": self.location, "message": self.message}


class ImportValidationError(ValidationFailedError):
    """The input has errors; nothing was written."""

    def __init__(self, errors: Sequence[UsageError], *, total: int | None = None) -> None:
        self.errors = list(errors)[:MAX_KEPT_ERRORS]
        self.total = total if total is not None else len(errors)
        lines = [str(error) for error in self.errors[:_SHOWN_IN_MESSAGE]]
        more = self.total - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        noun = "error" if self.total == 1 else "errors"
        self.summary = f"The input has {self.total} {noun}; nothing was changed."
        """The refusal in one line: the CLI's first, the API's ``detail``, the UI's notice."""
        super().__init__(f"{self.summary}\n" + "\n".join(lines))

    def as_dict(self) -> dict[str, Any]:
        """The errors as the API and ``--json`` show them."""
        return {
            "detail": self.summary,
            "error_count": self.total,
            "errors": [error.as_dict() for error in self.errors],
        }


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "json_invalid": "is not valid JSON",
    # pydantic's str refuses a lone surrogate before any validator of ours sees it.
    "string_unicode": SURROGATE_PROBLEM,
}


def describe(error_type: str, message: str) -> str:
    """A pydantic error in plain words (our own validators already speak plainly)."""
    return _MESSAGES.get(error_type, message)


def from_validation_error(
    error: ValidationError | Iterable[ErrorDetails], location: Location
) -> list[UsageError]:
    """Convert pydantic errors to located :class:`UsageError` s."""
    details = error.errors() if isinstance(error, ValidationError) else error
    found: list[UsageError] = []
    for detail in details:
        loc = [part for part in detail.get("loc", ()) if part != "body"]
        where = location
        if detail.get("type") == "date_order":
            loc.append("end_date")
        for part in loc:
            where = Location(where.at(part), where.style)
        found.append(
            UsageError(where.base, describe(detail.get("type", ""), detail.get("msg", "")))
        )
    return found


# How many of the subscriptions a refused snapshot would cancel are named.
_CANCEL_SAMPLE = 10


def cancelled_dict(cancelled: tuple[str, str, str]) -> dict[str, str]:
    """A subscription a snapshot cancels (or would), as ``--json`` and the API show it."""
    account, service, term = cancelled
    return {"account_ref": account, "service_ref": service, "term": term}


def cancelled_text(cancelled: tuple[str, str, str]) -> str:
    """A subscription a snapshot cancels (or would), as people read it: "A1 / S1 (monthly)"."""
    account, service, term = cancelled
    return f"{account} / {service} ({term})" if term else f"{account} / {service}"


class MassCancelError(ValidationFailedError):
    """A snapshot would cancel too many subscriptions; nothing was changed.

    Each entry point sets :attr:`fix` to the override in its own terms (a CLI flag, an API
    parameter, a checkbox).
    """

    def __init__(self, refusal: MassCancel, cancelled: Sequence[tuple[str, str, str]]) -> None:
        self.refusal = refusal
        self.cancelled = list(cancelled[:_CANCEL_SAMPLE])
        n, active = refusal.would_cancel, refusal.active
        if refusal.reason == "empty":
            what = (
                f"The snapshot lists no subscriptions, so it would cancel {n:,} of {active:,} "
                "subscriptions (every active one) and the next sync would set their counts "
                "in HaloPSA to 0."
            )
        else:
            what = (
                f"The snapshot would cancel {n:,} of {active:,} subscriptions "
                f"({refusal.percent:.1f} % of the workspace's active ones), more than its "
                f"limit of {refusal.limit_percent} %."
            )
        named = ", ".join(cancelled_text(cancelled) for cancelled in self.cancelled)
        more = n - len(self.cancelled)
        named += f" and {more:,} more" if more > 0 else ""
        super().__init__(
            f"{what} Nothing was changed. It would cancel: {named}.",
            fix="If the vendor really ended them, import it again allowing a mass cancel.",
        )

    def as_dict(self) -> dict[str, Any]:
        """The refusal as ``--json`` shows it."""
        return {
            "detail": str(self),
            "reason": self.refusal.reason,
            "would_cancel": self.refusal.would_cancel,
            "active": self.refusal.active,
            "limit_percent": self.refusal.limit_percent,
            "cancelled": [cancelled_dict(cancelled) for cancelled in self.cancelled],
        }
