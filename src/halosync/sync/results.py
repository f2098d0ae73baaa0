"""What a sync reports back: per account × service results and the run as a whole."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

from halosync.domain.halo_values import json_fields
from halosync.domain.models import (
    COUNT_KEYS,
    Action,
    ExplainStep,
    HaloValue,
    Level,
    PlannedChange,
    SkipKind,
    chain_text,
)
from halosync.domain.rules import explain_document
from halosync.halopsa.billing import halo_fields
from halosync.store.scratch import Spill, SpilledSequence


@dataclass(frozen=True)
class ChangeResult:
    """The outcome for one account × service (planned, for a dry run)."""

    account_ref: str
    service_ref: str
    action: Action
    reason: str
    level: Level = "INFO"
    halo_id: int | None = None
    before: Mapping[str, HaloValue] = field(default_factory=dict)
    after: Mapping[str, HaloValue] = field(default_factory=dict)
    message: str | None = None
    duplicates: tuple[int, ...] = ()
    """Other Halo records carrying this pair's marker, left untouched for an admin."""
    held: bool = False
    """A write held for review (reported as a skip): it waits in the Review queue."""
    explain: tuple[ExplainStep, ...] = ()
    """The chain of quantity rules that produced the number (empty for unmapped pairs)."""
    term: str = ""
    """The term whose own record this is (terms rule ``apart``); "" for the pair's one."""
    skip: SkipKind | None = None
    """Why a skip is by design (:attr:`PlannedChange.skip`): the run's log summarises it."""

    @property
    def identity(self) -> tuple[str, str, str]:
        """Its change's identity, as :attr:`PlannedChange.identity`."""
        return (self.account_ref, self.service_ref, self.term)

    @property
    def explain_text(self) -> str:
        """The chain as one line ("vendor 23 → minus 3 free (service) → 20"), or ""."""
        return chain_text(self.explain)

    @classmethod
    def planned(cls, change: PlannedChange, **overrides: Any) -> ChangeResult:
        """The result a planned change reports before (or without) being executed.

        A create shows the whole record as Halo is sent it (identity and marker included);
        the write of an interrupted run found with nothing else to write is that write (a
        create: the record as Halo holds it).
        """
        action = change.action
        before, after = change.before, change.after
        if change.action == "create" and change.write is not None:
            after = halo_fields(change.write)
        found = change.interrupted
        if found is not None and change.action == "unchanged":
            action = found.operation
            if found.created is not None:
                after = halo_fields(found.created)
            elif found.updated is not None:
                before, after = found.updated.before, found.updated.after
        values: dict[str, Any] = {
            "account_ref": change.account_ref,
            "service_ref": change.service_ref,
            "action": action,
            "reason": change.reason,
            "level": change.level,
            "halo_id": change.halo_id,
            "before": before,
            "after": after,
            "duplicates": change.duplicates,
            "explain": change.explain,
            "term": change.apart_term,
            "skip": change.skip,
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The ``changes[]`` element of ``sync usage --json``."""
        return {
            "account_ref": self.account_ref,
            "service_ref": self.service_ref,
            "action": self.action,
            "halo_id": self.halo_id,
            "before": json_fields(self.before) if self.before else None,
            "after": json_fields(self.after) if self.after else None,
            "reason": self.reason,
            "level": self.level,
            "message": self.message,
            "duplicates": list(self.duplicates),
            "held": self.held,
            "explain": explain_document(self.explain),
            "term": self.term,
        }


def count_results(results: Iterable[ChangeResult]) -> dict[str, int]:
    """``{"created", "updated", "unchanged", "skipped", "failed"}`` -> number."""
    counts = dict.fromkeys(COUNT_KEYS.values(), 0)
    for result in results:
        counts[COUNT_KEYS[result.action]] += 1
    return counts


class RunResults:
    """A run's results as its chunks finish: counted, and kept on disk in plan order for
    the report (a 100,000-pair run does not hold 100,000 results)."""

    def __init__(self) -> None:
        self.counts = count_results(())
        self._kept: Spill[ChangeResult] = Spill()

    def add(self, results: Sequence[ChangeResult]) -> None:
        """One chunk's results, in plan order."""
        for result in results:
            self.counts[COUNT_KEYS[result.action]] += 1
        self._kept.add((None, None, result) for result in results)

    @property
    def changes(self) -> Sequence[ChangeResult]:
        """Every result so far, read back from disk as it is iterated."""
        return SpilledSequence(self._kept)


@dataclass(frozen=True)
class UsageReport:
    """A usage push (or its dry run): the run, its counts and every result."""

    run_id: int
    workspace: str
    dry_run: bool
    status: str
    target: str
    counts: Mapping[str, int]
    changes: Sequence[ChangeResult]
    """In plan order; a run's are read back from disk as they are iterated."""
    duration_ms: int
    account_ref: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``sync usage --json`` document (the CLI contract)."""
        return self._head() | {"changes": [change.to_dict() for change in self.changes]}

    def _head(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workspace": self.workspace,
            "dry_run": self.dry_run,
            "status": self.status,
            "target": self.target,
            "account_ref": self.account_ref,
            "counts": dict(self.counts),
            "duration_ms": self.duration_ms,
            "error": self.error,
        }

    def write_json(self, out: TextIO) -> None:
        """Write :meth:`to_dict` as ``json.dumps(..., indent=2)`` would, one change at a
        time (the document of a 100,000-pair run is never held whole)."""
        for part in self.json_parts(partial(json.dumps, indent=2, default=str), indent=2):
            out.write(part)
        out.write("\n")

    def json_parts(
        self,
        dumps: Callable[[Any], str],
        *,
        indent: int | None,
        head: Callable[[dict[str, Any]], dict[str, Any]] = dict,
        change: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    ) -> Iterator[str]:
        """``dumps(self.to_dict())``, a part at a time: the head, then each change as it is
        read back. ``dumps`` indents by ``indent`` (None: compact, no spaces after the
        separators); ``head`` and ``change`` may recast the parts first (the REST API's
        models)."""
        text = dumps(head(self._head() | {"changes": []}))
        opening, closing = text.rsplit('"changes": []' if indent else '"changes":[]', 1)
        yield opening + ('"changes": [' if indent else '"changes":[')
        first = True
        for result in self.changes:
            element = dumps(change(result.to_dict()))
            if indent:
                element = "\n" + textwrap.indent(element, " " * 2 * indent)
            yield element if first else "," + element
            first = False
        yield ("\n" + " " * indent if indent and not first else "") + "]" + closing


@dataclass(frozen=True)
class RunReport:
    """A customers pull: the run, its counts per kind of Halo record, and its outcome."""

    run_id: int
    workspace: str
    status: str
    counts: Mapping[str, int]
    duration_ms: int
    error: str | None = None
    details: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``sync customers --json`` document."""
        return {
            "run_id": self.run_id,
            "workspace": self.workspace,
            "status": self.status,
            "counts": dict(self.counts),
            "details": {kind: dict(counts) for kind, counts in self.details.items()},
            "duration_ms": self.duration_ms,
            "error": self.error,
        }
