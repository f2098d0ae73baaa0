"""A simulated Halo instance per test, and clients talking HTTP to it in-process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.permissions import needs_for
from halosync.halopsa.retry import RetryPolicy
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from tests.halopsa.manual_clock import ManualClock

BASE_URL = "http://halo.test"
CLIENT_ID = "5c3b8b4e-1f0c-4a55-9a43-0b6b2f0e9d11"
CLIENT_SECRET = "0f8e2d4c-6b1a-4e3f-8d7c-9a5b3c1d2e4f-7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d"
LICENCE_SCOPES = needs_for("licence").scopes
FAST_RETRY = RetryPolicy(
    attempts=4, timeout=10.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0
)


@dataclass
class Halo:
    """One simulated instance, the clock shared with it, and a way to make clients."""

    app: Simulator
    clock: ManualClock

    def config(self, **overrides: Any) -> HaloConnectionConfig:
        values: dict[str, Any] = {
            "server_url": BASE_URL,
            "client_id": CLIENT_ID,
            "client_secret": SecretStr(CLIENT_SECRET),
            "scopes": LICENCE_SCOPES,
        }
        values.update(overrides)
        return HaloConnectionConfig(**values)

    def client(self, *, retry: RetryPolicy = FAST_RETRY, **overrides: Any) -> HaloApiClient:
        options = {
            k: overrides.pop(k)
            for k in (
                "batch_size",
                "page_size",
                "pacer",
                "refresh_margin_seconds",
                "request_deadline_seconds",
            )
            if k in overrides
        }
        return HaloApiClient(
            self.config(**overrides),
            transport=httpx2.ASGITransport(app=self.app),
            clock=self.clock,
            retry=retry,
            allow_private_networks=True,
            **options,
        )

    def requests(self, path: str, method: str | None = None) -> list[Any]:
        return [
            entry
            for entry in self.app.state.request_log
            if entry.path.lower() == path.lower() and (method is None or entry.method == method)
        ]


@pytest.fixture
def make_halo() -> Callable[..., Halo]:
    """Build a simulated instance: ``make_halo(app_scopes=..., **SimulatorConfig fields)``."""

    def make(app_scopes: tuple[str, ...] = ("all",), **config: Any) -> Halo:
        # A frozen simulated clock: only sleeping (ManualClock) moves time, so runs repeat.
        config.setdefault("start_time", datetime(2025, 6, 2, 9, 0, tzinfo=UTC))
        app = create_app(
            SimulatorConfig(
                applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, app_scopes)], **config
            )
        )
        return Halo(app, ManualClock(app.state.clock))

    return make


@pytest.fixture
def halo(make_halo: Callable[..., Halo]) -> Halo:
    """A hosted-less (on-premise) instance whose application has every permission."""
    return make_halo()
