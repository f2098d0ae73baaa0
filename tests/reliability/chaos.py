"""A simulated HaloPSA with traps the simulator's own faults cannot set.

The simulator's faults all strike *before* a request is applied. Real outages also strike
after: Halo saves the records, then the answer is lost (a dropped socket, a proxy's 500)
or never read (halosync killed while waiting). A trap arms one of those on the n-th
request matching a method and path, and can also run an action at that moment (revoke
tokens, "restart" Halo, edit records by hand), so faults land mid-run at chosen points.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from halosync.simulator import Simulator, SimulatorConfig
from halosync.simulator.app import Message, Receive, Scope, Send
from halosync.simulator.state import SimulatorState

TrapKind = Literal[
    "apply_then_drop",  # Halo applies the request, then the connection closes unanswered
    "apply_then_error",  # Halo applies the request, then answers 500 "Internal Server Error"
    "apply_then_hold",  # Halo applies it and never answers until the client goes away
    "hold_then_discard",  # the request waits unapplied until the client goes away
    "action_before",  # serve the request normally (after ``action``, as every kind does)
]

_HOLD_LIMIT_SECONDS = 60.0
_ERROR_BODY = b'{"ClassName":"System.Exception","Message":"Internal Server Error"}'


@dataclass
class Trap:
    """Fires once, on the ``nth`` request matching ``method`` and the glob ``path``.

    ``action``, when given, runs on the simulator's state just before the trap strikes.
    """

    kind: TrapKind
    method: str
    path: str
    nth: int = 1
    action: Callable[[SimulatorState], object] | None = None
    seen: int = 0
    fired: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is one this trap counts."""
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(
            path.lower(), self.path.lower()
        )

    def describe(self) -> str:
        """A short label for failure messages."""
        return f"{self.kind} on {self.method} {self.path} #{self.nth}"


class ChaosSimulator(Simulator):
    """The simulator plus traps; ``traps`` may be changed between (or during) runs."""

    def __init__(self, config: SimulatorConfig) -> None:
        super().__init__(config)
        self.traps: list[Trap] = []
        self._lock = threading.Lock()

    def arm(self, trap: Trap) -> Trap:
        """Add a trap and return it (wait on ``trap.fired`` to know it struck)."""
        with self._lock:
            self.traps.append(trap)
        return trap

    def disarm(self) -> None:
        """Remove every trap."""
        with self._lock:
            self.traps.clear()

    def _take(self, method: str, path: str) -> Trap | None:
        with self._lock:
            for trap in self.traps:
                if trap.fired.is_set() or not trap.matches(method, path):
                    continue
                trap.seen += 1
                if trap.seen == trap.nth:
                    return trap
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).lower().startswith("/_simulator"):
            await super().__call__(scope, receive, send)
            return
        trap = self._take(str(scope["method"]).upper(), str(scope["path"]))
        if trap is None:
            await super().__call__(scope, receive, send)
            return
        if trap.action is not None:
            trap.action(self.state)
        if trap.kind == "action_before":
            trap.fired.set()
            await super().__call__(scope, receive, send)
            return
        if trap.kind == "hold_then_discard":
            await receive()  # the body: read, never applied
            trap.fired.set()
            await _until_gone(receive)
            await self._drop(scope)
            return

        async def swallow(_message: Message) -> None:
            return None

        await super().__call__(scope, receive, swallow)
        trap.fired.set()
        if trap.kind == "apply_then_error":
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": _ERROR_BODY})
            return
        if trap.kind == "apply_then_hold":
            await _until_gone(receive)
        await self._drop(scope)


async def _until_gone(receive: Receive) -> None:
    """Wait until the client hangs up (or a generous limit passes)."""
    try:
        async with asyncio.timeout(_HOLD_LIMIT_SECONDS):
            while (await receive()).get("type") != "http.disconnect":
                pass
    except TimeoutError:
        return
