"""A HaloPSA simulator faithful enough that Halo clients work against it unchanged.

In-process use::

    app = create_app(SimulatorConfig(applications=[ApiApplication("id", "secret", ("all",))]))
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://halo.test")

On a real port: :func:`halosync.simulator.server.serve_in_thread`. See ``docs/simulator.md``.
"""

from __future__ import annotations

from halosync.simulator.app import DroppedConnection, Simulator, create_app
from halosync.simulator.clock import SimulatedClock
from halosync.simulator.config import ApiApplication, SimulatorConfig
from halosync.simulator.demo import generate_demo_seed
from halosync.simulator.faults import Fault, FaultInjector, FaultKind
from halosync.simulator.requestlog import RequestLog, RequestLogEntry
from halosync.simulator.scopes import KNOWN_SCOPES
from halosync.simulator.state import SimulatorState

__all__ = [
    "KNOWN_SCOPES",
    "ApiApplication",
    "DroppedConnection",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "RequestLog",
    "RequestLogEntry",
    "SimulatedClock",
    "Simulator",
    "SimulatorConfig",
    "SimulatorState",
    "create_app",
    "generate_demo_seed",
]
