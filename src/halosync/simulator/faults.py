"""Faults a test can inject: latency, Halo's vague 500s, dropped connections, hangs, 429s."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    """What an injected fault does to a matching request."""

    LATENCY = "latency"  # wait ``seconds`` (real time), then answer normally
    ERROR = "error"  # 500 with a JSON body {"ClassName": ..., "Message": "Internal Server Error"}
    ERROR_PLAIN = "error_plain"  # 500 with the plain-text body "Internal Server Error"
    HTML_ERROR = "html_error"  # 500 with the HTML "Sorry, something went wrong" page
    DROP = "drop"  # close the connection without any response
    TIMEOUT = "timeout"  # hang ``seconds`` (or until the client gives up), then answer
    RATE_LIMIT = "rate_limit"  # answer 429 as if the window were full


_DEFAULT_SECONDS = {FaultKind.LATENCY: 0.2, FaultKind.TIMEOUT: 30.0}


@dataclass
class Fault:
    """One injected fault; ``times`` None means it never runs out."""

    id: int
    kind: FaultKind
    method: str
    path: str
    times: int | None
    probability: float
    seconds: float
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is a target (method ``*`` = any; path a lower-case glob)."""
        return (self.method == "*" or self.method == method) and fnmatch.fnmatchcase(
            path.lower(), self.path
        )

    @property
    def spent(self) -> bool:
        """Whether it has fired as many times as it was asked to."""
        return self.times is not None and self.fired >= self.times

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "probability": self.probability,
            "seconds": self.seconds,
            "fired": self.fired,
        }


@dataclass
class FaultInjector:
    """The faults currently armed, drawn with a seeded random generator (deterministic)."""

    seed: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def inject(
        self,
        kind: FaultKind | str,
        method: str = "*",
        path: str = "*",
        times: int | None = 1,
        probability: float = 1.0,
        seconds: float | None = None,
    ) -> Fault:
        """Arm a fault for requests matching ``method`` and the glob ``path``.

        It fires on the next ``times`` matching requests (each with ``probability``);
        ``seconds`` is the delay of latency and timeout faults.
        """
        try:
            fault_kind = FaultKind(kind)
        except ValueError:
            choices = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {choices}") from None
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 (or None for always), got {times}")
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability}")
        delay = _DEFAULT_SECONDS.get(fault_kind, 0.0) if seconds is None else seconds
        if delay < 0:
            raise ValueError(f"seconds must not be negative, got {delay}")
        with self._lock:
            fault = Fault(
                id=self._next_id,
                kind=fault_kind,
                method=method.upper(),
                path=path.lower(),
                times=times,
                probability=probability,
                seconds=delay,
            )
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault that fires for this request, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.spent or not fault.matches(method, path):
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
            return None

    def remove(self, fault_id: int) -> bool:
        """Disarm one fault; say whether it existed."""
        with self._lock:
            before = len(self._faults)
            self._faults = [fault for fault in self._faults if fault.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return [fault for fault in self._faults if not fault.spent]

    def all(self) -> list[Fault]:
        """Every fault injected since the last clear, spent or not."""
        with self._lock:
            return list(self._faults)
