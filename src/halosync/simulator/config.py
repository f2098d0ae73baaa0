"""How a simulated HaloPSA instance is set up: API applications, tenant, limits, quirks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from halosync.simulator.fieldtypes import ValidationBody

PostResponseShape = Literal["auto", "array", "wrapped"]


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
    ``bare_list_arrays``, ``post_response_shape`` and ``validation_body`` switch on
    response-shape quirks seen in the wild (see ``docs/simulator.md``).
    """

    applications: list[ApiApplication] = field(default_factory=list)
    tenant: str | None = None
    rate_limit: int = 300
    rate_window_seconds: float = 300.0
    retry_after_header: bool = False
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
        if self.rate_limit < 1:
            problems.append(f"rate_limit must be at least 1, got {self.rate_limit}")
        if self.rate_window_seconds <= 0:
            problems.append(f"rate_window_seconds must be positive, got {self.rate_window_seconds}")
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
