"""How a simulated HaloPSA instance is set up: API applications, tenant, limits, quirks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from halosync.simulator.fieldtypes import ValidationBody

PostResponseShape = Literal["auto", "array", "wrapped"]
RETRY_AFTER_AUTO = "auto"
"""``retry_after`` value meaning "the seconds until the oldest counted request leaves"."""
_RETRY_AFTER_MAX_LENGTH = 200


def rate_limit_problem(limit: int) -> str | None:
    """Why ``limit`` is not a usable requests-per-window budget, or None."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return f"rate_limit must be at least 1, got {limit!r}"
    return None


def rate_window_problem(seconds: float) -> str | None:
    """Why ``seconds`` is not a usable rolling window, or None."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        return f"rate_window_seconds must be positive, got {seconds!r}"
    return None


def retry_after_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be sent as a Retry-After header, or None when it can.

    Any text is allowed (an HTTP date, a negative or a garbled value imitate a misbehaving
    server), as long as it is one non-blank line of printable ASCII.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return f"retry_after must be text, a number or null, not {type(value).__name__}"
    if not value.strip():
        return "retry_after must not be blank"
    if len(value) > _RETRY_AFTER_MAX_LENGTH:
        return f"retry_after must be at most {_RETRY_AFTER_MAX_LENGTH} characters"
    if not all(" " <= char <= "~" for char in value):
        return "retry_after must be printable ASCII on one line"
    return None


def detail_permission_status_problem(status: int) -> str | None:
    """Why ``status`` cannot answer a missing permission on a detail endpoint, or None."""
    if isinstance(status, bool) or status not in (401, 403):
        return f"detail_permission_status must be 401 or 403, got {status!r}"
    return None


@dataclass(frozen=True)
class ApiApplication:
    """An API application as set up under Configuration > Integrations > HaloPSA API.

    ``scopes`` are the permissions ticked on the application; a token gets the requested
    scopes that the application also has.
    """

    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("all",)
    name: str = "halosync"


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that makes one simulated instance behave the way a test wants.

    ``tenant`` set means a hosted instance whose token endpoint requires ``tenant``.
    ``retry_after`` is the Retry-After header of every 429: None for none (Halo sends none
    as far as anyone knows), ``"auto"`` for the seconds until the window frees, or any
    other text, sent as it is. ``detail_permission_status`` 401 answers a missing
    permission on ``/api/<Entity>/<id>`` the way real Halo does (403 elsewhere).
    ``bare_list_arrays``, ``post_response_shape`` and ``validation_body`` switch on
    response-shape quirks seen in the wild (see ``docs/simulator.md``).
    """

    applications: list[ApiApplication] = field(default_factory=list)
    tenant: str | None = None
    rate_limit: int = 300
    rate_window_seconds: float = 300.0
    retry_after: str | None = None
    detail_permission_status: int = 403
    token_lifetime_seconds: int = 3600
    max_page_size: int = 100
    default_page_size: int = 50
    default_count: int = 50
    bare_list_arrays: bool = False
    post_response_shape: PostResponseShape = "auto"
    validation_body: ValidationBody = "flat"
    fault_seed: int = 0
    request_log_limit: int = 100_000
    start_time: datetime | None = None
    app_version: str = "2.184.1"

    def __post_init__(self) -> None:
        problems: list[str] = []
        for problem in (
            rate_limit_problem(self.rate_limit),
            rate_window_problem(self.rate_window_seconds),
            retry_after_problem(self.retry_after),
            detail_permission_status_problem(self.detail_permission_status),
        ):
            if problem:
                problems.append(problem)
        if self.token_lifetime_seconds < 1:
            problems.append(
                f"token_lifetime_seconds must be at least 1, got {self.token_lifetime_seconds}"
            )
        if not 1 <= self.default_page_size <= self.max_page_size:
            problems.append("default_page_size must be between 1 and max_page_size")
        if self.post_response_shape not in ("auto", "array", "wrapped"):
            problems.append(
                f"post_response_shape must be auto|array|wrapped, not {self.post_response_shape!r}"
            )
        if self.validation_body not in ("flat", "problem_details"):
            problems.append(
                f"validation_body must be flat|problem_details, not {self.validation_body!r}"
            )
        ids = [application.client_id for application in self.applications]
        if len(ids) != len(set(ids)):
            problems.append("two API applications share a client_id")
        if self.tenant is not None and not self.tenant.strip():
            problems.append("tenant must be None or a non-blank name")
        if problems:
            raise ValueError("invalid SimulatorConfig: " + "; ".join(problems))
