"""The in-memory Halo instance behind the simulator's HTTP face, and its test controls."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from halosync.simulator.clock import SimulatedClock
from halosync.simulator.config import ApiApplication, SimulatorConfig
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
            self.clock, config.rate_limit, config.rate_window_seconds
        )
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
