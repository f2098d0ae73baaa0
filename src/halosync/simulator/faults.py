"""Faults a test can inject: latency, Halo's vague 500s, dropped connections, hangs, 429s.

A ``hold`` fault keeps matching requests waiting until the test releases it, so a test can
change Halo's data while, say, page 2 of a list is being read (a live instance does that).
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
import time
from collections.abc import Mapping
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
    HOLD = "hold"  # wait until released (or ``seconds`` pass), then answer normally
    OMIT_FIELD = "omit_field"  # answer normally, without ``field`` (see :func:`edit_answer`)
    SET_FIELD = "set_field"  # answer normally, with ``field`` set to ``value`` (JSON)
    TRICKLE = "trickle"  # the normal answer, one byte every ``seconds`` (a stalling proxy)
    MAINTENANCE = "maintenance"  # 200 with an HTML "Scheduled maintenance" page
    TRUNCATE = "truncate"  # the normal answer cut off halfway (a proxy that gave up)
    IGNORE_PAGING = "ignore_paging"  # a paged list answered as page 1 of max_page_size rows


_HOLD_POLL_SECONDS = 0.002
_DEFAULT_SECONDS = {
    FaultKind.LATENCY: 0.2,
    FaultKind.TIMEOUT: 30.0,
    FaultKind.HOLD: 30.0,
    FaultKind.TRICKLE: 1.0,
}


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
    query: dict[str, str] = field(default_factory=dict)
    field_path: str | None = None
    """Where an ``omit_field``/``set_field`` fault edits the JSON answer."""
    value: Any = None
    fired: int = 0
    holding: int = 0
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        """Whether a request is a target: method ``*`` = any; path a lower-case glob; every
        ``query`` parameter present with that value (names case-insensitive)."""
        return (
            (self.method == "*" or self.method == method)
            and fnmatch.fnmatchcase(path.lower(), self.path)
            and all(query.get(name) == value for name, value in self.query.items())
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
            "query": dict(self.query),
            "field": self.field_path,
            "value": self.value,
            "fired": self.fired,
            "holding": self.holding,
            "released": self.released.is_set(),
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
        query: Mapping[str, Any] | None = None,
        field: str | None = None,
        value: Any = None,
    ) -> Fault:
        """Arm a fault for requests matching ``method``, the glob ``path`` and ``query``.

        It fires on the next ``times`` matching requests (each with ``probability``);
        ``seconds`` is the delay of latency and timeout faults and the longest hold.
        ``query`` names parameters a request must carry, e.g. ``{"page_no": 2}``.
        ``field`` (``omit_field``/``set_field`` only) is where the JSON answer is edited,
        ``value`` what ``set_field`` puts there (see :func:`edit_answer`).
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
        wanted = _query(query)
        edits = fault_kind in (FaultKind.OMIT_FIELD, FaultKind.SET_FIELD)
        if edits != bool(field):
            raise ValueError(
                "field is required by omit_field and set_field faults, and only by them"
            )
        with self._lock:
            fault = Fault(
                id=self._next_id,
                kind=fault_kind,
                method=method.upper(),
                path=path.lower(),
                times=times,
                probability=probability,
                seconds=delay,
                query=wanted,
                field_path=field,
                value=value,
            )
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str, query: Mapping[str, str] | None = None) -> Fault | None:
        """The first armed fault that fires for this request, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.spent or not fault.matches(method, path, query or {}):
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
            return None

    def release(self, fault_id: int) -> Fault:
        """Let every request a hold fault keeps waiting (and any it would catch) go on."""
        with self._lock:
            for fault in self._faults:
                if fault.id == fault_id:
                    fault.released.set()
                    return fault
        raise KeyError(f"there is no fault {fault_id}")

    async def hold(self, fault: Fault) -> None:
        """Keep one request waiting until ``fault`` is released or its ``seconds`` pass."""
        deadline = time.monotonic() + fault.seconds
        with self._lock:
            fault.holding += 1
        try:
            # Polling keeps it independent of the event loop that serves the request (a
            # server thread's, or the test's own when the simulator runs in-process).
            while not fault.released.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(_HOLD_POLL_SECONDS)
        finally:
            with self._lock:
                fault.holding -= 1

    def remove(self, fault_id: int) -> bool:
        """Disarm one fault (releasing what it holds); say whether it existed."""
        with self._lock:
            before = len(self._faults)
            for fault in self._faults:
                if fault.id == fault_id:
                    fault.released.set()
            self._faults = [fault for fault in self._faults if fault.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        """Disarm every fault (releasing what they hold)."""
        with self._lock:
            for fault in self._faults:
                fault.released.set()
            self._faults.clear()

    def active(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return [fault for fault in self._faults if not fault.spent]

    def all(self) -> list[Fault]:
        """Every fault injected since the last clear, spent or not."""
        with self._lock:
            return list(self._faults)


def edit_answer(document: Any, path: str, *, omit: bool, value: Any = None) -> Any:
    """A JSON answer with the field at ``path`` removed (``omit``) or set to ``value``.

    ``path`` is dotted; ``[]`` after a name means each element of that list, so
    ``lines`` is the top-level field (of each element when the answer is an array),
    ``invoices[].lines`` the lines of every row of a list answer and ``record_count`` a
    list's total. Parts the answer does not have are left alone. ``$`` is the whole
    answer: ``set_field`` replaces it with ``value``.
    """
    if path == "$":
        return None if omit else value
    if isinstance(document, list):
        return [edit_answer(element, path, omit=omit, value=value) for element in document]
    if not isinstance(document, dict):
        return document
    head, _, rest = path.partition(".")
    each = head.endswith("[]")
    name = head.removesuffix("[]")
    edited = dict(document)
    if rest:
        if name in edited:
            inner = edited[name]
            if each and isinstance(inner, list):
                edited[name] = [edit_answer(e, rest, omit=omit, value=value) for e in inner]
            elif not each:
                edited[name] = edit_answer(inner, rest, omit=omit, value=value)
    elif omit:
        edited.pop(name, None)
    else:
        edited[name] = value
    return edited


def _query(query: Mapping[str, Any] | None) -> dict[str, str]:
    """Query parameters a fault matches, as the simulator parses requests (names lower-case;
    booleans as Halo clients send them)."""
    if query is None:
        return {}
    if not isinstance(query, Mapping):
        raise ValueError("query must be an object of parameter names and values")
    wanted: dict[str, str] = {}
    for name, value in query.items():
        if isinstance(value, dict | list) or value is None:
            raise ValueError(f"query parameter {name!r} must be a single value")
        wanted[str(name).lower()] = str(value).lower() if isinstance(value, bool) else str(value)
    return wanted
