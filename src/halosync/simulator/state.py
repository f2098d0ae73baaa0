"""The in-memory Halo instance behind the simulator's HTTP face, and its test controls."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from halosync.simulator.clock import SimulatedClock
from halosync.simulator.config import (
    ApiApplication,
    SimulatorConfig,
    detail_permission_status_problem,
)
from halosync.simulator.entities import EntityKind, entity_named
from halosync.simulator.faults import FaultInjector
from halosync.simulator.fieldtypes import ValidationProblem
from halosync.simulator.ratelimit import RollingWindowLimiter
from halosync.simulator.requestlog import RequestLog
from halosync.simulator.store import HaloStore
from halosync.simulator.tokens import TokenStore


class SimulatorState:
    """Data, tokens, rate window, faults and request log of one simulated instance.

    Every method is safe to call from a test thread while a server thread serves
    requests: the store is guarded by one re-entrant lock.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimulatedClock(frozen_at=config.start_time)
        self.lock = threading.RLock()
        self.store = HaloStore()
        self.tokens = TokenStore(self.clock)
        self.limiter = RollingWindowLimiter(
            self.clock, config.rate_limit, config.rate_window_seconds, config.retry_after
        )
        self.detail_permission_status = config.detail_permission_status
        self.faults = FaultInjector(seed=config.fault_seed)
        self.request_log = RequestLog(limit=config.request_log_limit)
        self.restarts = 0

    # -- applications -------------------------------------------------------------------

    def application(self, client_id: str) -> ApiApplication | None:
        """The configured API application with this client id."""
        for application in self.config.applications:
            if application.client_id == client_id:
                return application
        return None

    # -- seeding ------------------------------------------------------------------------

    def seed(self, document: Mapping[str, Any]) -> dict[str, int]:
        """Load records from a seed document (all or nothing); counts per seed key.

        Raises :class:`ValueError` naming every bad field (``clients[3].name: ...``).
        """
        if not isinstance(document, Mapping):
            raise ValueError("a seed document must be a JSON object of entity arrays")
        with self.lock:
            try:
                return self.store.seed(document, self.clock.isoformat())
            except ValidationProblem as problem:
                raise ValueError(f"invalid seed document: {problem}") from problem

    def seed_file(self, path: str | Path) -> dict[str, int]:
        """Load a JSON seed file (format in ``docs/simulator.md``)."""
        file = Path(path)
        try:
            document = json.loads(file.read_text("utf-8"))
        except FileNotFoundError:
            raise ValueError(f"seed file {file} does not exist") from None
        except json.JSONDecodeError as error:
            raise ValueError(
                f"seed file {file} is not valid JSON (line {error.lineno}, column {error.colno}): "
                f"{error.msg}"
            ) from None
        try:
            return self.seed(document)
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None

    # -- inspection and "someone in Halo" edits ------------------------------------------

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every record of an entity, as ``GET /api/<Entity>/<id>`` would return it."""
        kind = entity_named(entity)
        with self.lock:
            return [self.store.render(kind, row) for row in self.store.tables[kind.table].values()]

    def record(self, entity: str, record_id: int) -> dict[str, Any] | None:
        """One record as a single GET returns it, or None when it does not exist."""
        kind = entity_named(entity)
        with self.lock:
            row = self.store.get_row(kind, record_id)
            return None if row is None else self.store.render(kind, row)

    def edit_by_hand(self, entity: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Change a record the way someone in Halo's UI would (rename, recount...)."""
        kind = self._existing(entity, record_id)
        with self.lock:
            try:
                self.store.upsert(kind, [{**fields, "id": record_id}], self.clock.isoformat())
            except ValidationProblem as problem:
                raise ValueError(f"cannot edit {kind.name} {record_id}: {problem}") from problem
            row = self.store.get_row(kind, record_id)
            assert row is not None
            return self.store.render(kind, row)

    def create_by_hand(self, entity: str, **fields: Any) -> dict[str, Any]:
        """Add a record the way someone (or another integration) in Halo would."""
        kind = entity_named(entity)
        if fields.get("id") not in (None, 0):
            raise ValueError("a record created by hand gets its id from Halo; leave id out")
        with self.lock:
            try:
                (record_id,) = self.store.upsert(kind, [fields], self.clock.isoformat())
            except ValidationProblem as problem:
                raise ValueError(f"cannot create {kind.name}: {problem}") from problem
            row = self.store.get_row(kind, record_id)
            assert row is not None
            return self.store.render(kind, row)

    def delete_by_hand(self, entity: str, record_id: int) -> None:
        """Delete a record behind the client's back."""
        kind = self._existing(entity, record_id)
        with self.lock:
            self.store.delete(kind, record_id)

    def _existing(self, entity: str, record_id: int) -> EntityKind:
        kind = entity_named(entity)
        with self.lock:
            if self.store.get_row(kind, record_id) is None:
                raise KeyError(f"there is no {kind.name} with id {record_id}")
        return kind

    # -- tokens and restarts ------------------------------------------------------------

    def revoke_tokens(self) -> int:
        """Invalidate every issued token (the next call with one gets 401)."""
        return self.tokens.revoke()

    def restart(self) -> None:
        """What a Halo restart looks like from outside: tokens gone, data kept."""
        self.tokens.revoke()
        self.restarts += 1

    # -- behaviour that can change while serving ------------------------------------------

    def live_config(self) -> dict[str, Any]:
        """The settings the control API can change, as they are now."""
        return {
            "rate_limit": self.limiter.limit,
            "rate_window_seconds": self.limiter.window_seconds,
            "retry_after": self.limiter.retry_after_setting,
            "detail_permission_status": self.detail_permission_status,
        }

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change live settings (names as in :meth:`live_config`); all or nothing.

        A number given for ``retry_after`` is sent as its decimal text; None sends none.
        Raises :class:`ValueError` naming every bad or unknown setting.
        """
        unknown = sorted(set(changes) - set(self.live_config()))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        limiter_changes: dict[str, Any] = {}
        if "rate_limit" in changes:
            limiter_changes["limit"] = changes["rate_limit"]
        if "rate_window_seconds" in changes:
            limiter_changes["window_seconds"] = changes["rate_window_seconds"]
        if "retry_after" in changes:
            limiter_changes["retry_after"] = _header_text(changes["retry_after"])
        status = changes.get("detail_permission_status", self.detail_permission_status)
        problems = self.limiter.problems(**limiter_changes)
        status_problem = detail_permission_status_problem(status)
        if status_problem:
            problems.append(status_problem)
        if problems:
            raise ValueError("; ".join(problems))
        with self.lock:
            self.limiter.configure(**limiter_changes)
            self.detail_permission_status = status
        return self.live_config()


def _header_text(value: Any) -> Any:
    """Numbers become the text a server would send; anything else is checked as it is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value
