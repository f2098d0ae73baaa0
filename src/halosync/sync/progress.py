"""A running sync's progress: what it has done so far, told to whoever watches.

The sync reports through one :class:`ProgressTracker` per run (it also hears the HaloPSA
client's pages and rate-limit waits, as a :class:`~halosync.halopsa.activity.HaloActivity`);
each change goes to every :class:`ProgressObserver`: the terminal's progress bar
(``halosync.cli.progress``) and the run's recorder, which stores it with the run's
heartbeat for the web UI and the REST API (:class:`halosync.sync.runs.ProgressRecorder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from halosync.logging import get_logger

log = get_logger(__name__)

ProgressPhase = Literal["reading", "writing"]
PROGRESS_PHASES: tuple[ProgressPhase, ...] = ("reading", "writing")


@dataclass(frozen=True)
class SyncProgress:
    """How far a run has come: Halo's lists read, writes done of those planned, any wait."""

    phase: ProgressPhase = "reading"
    """``reading`` Halo's lists, or ``writing`` the plan's changes to Halo."""
    pages_read: int = 0
    records_read: int = 0
    writes_done: int = 0
    writes_planned: int | None = None
    """How many records the plan writes; None until the plan is made (or for a pull)."""
    waiting_until: datetime | None = None
    """Requests wait for HaloPSA's rate limit until then (UTC); None when not waiting."""

    def to_json(self) -> dict[str, Any]:
        """The stored form (a JSON object)."""
        return {
            "phase": self.phase,
            "pages_read": self.pages_read,
            "records_read": self.records_read,
            "writes_done": self.writes_done,
            "writes_planned": self.writes_planned,
            "waiting_until": self.waiting_until.isoformat() if self.waiting_until else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> SyncProgress | None:
        """Read the stored form back; None for anything else (an older or foreign value)."""
        if not isinstance(data, dict):
            return None
        phase = data.get("phase")
        waiting = data.get("waiting_until")
        try:
            until = datetime.fromisoformat(waiting) if isinstance(waiting, str) else None
        except ValueError:
            until = None
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        planned = data.get("writes_planned")
        return cls(
            phase="writing" if phase == "writing" else "reading",
            pages_read=_count(data.get("pages_read")),
            records_read=_count(data.get("records_read")),
            writes_done=_count(data.get("writes_done")),
            writes_planned=_count(planned) if planned is not None else None,
            waiting_until=until,
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class ProgressObserver(Protocol):
    """Hears every change of a run's progress (quickly: the sync waits for it)."""

    def progress(self, progress: SyncProgress) -> None:
        """The run's progress is now ``progress``."""
        ...


class ProgressTracker:
    """Counts one run's progress and tells each observer of every change.

    An observer that raises is logged and skipped: showing progress must never stop a sync.
    """

    def __init__(self, observers: Iterable[ProgressObserver] = ()) -> None:
        self._observers = list(observers)
        self._current = SyncProgress()

    @property
    def current(self) -> SyncProgress:
        """The progress so far."""
        return self._current

    def page_read(self, entity: str, records: int) -> None:
        """One more page of a Halo list, with ``records`` new records."""
        self._tell(
            pages_read=self._current.pages_read + 1,
            records_read=self._current.records_read + max(records, 0),
        )

    def waiting(self, until: float | None) -> None:
        """Requests wait for Halo's rate limit until ``until`` (epoch seconds), or no more."""
        at = None if until is None else datetime.fromtimestamp(until, UTC)
        if at != self._current.waiting_until:
            self._tell(waiting_until=at)

    def planned(self, writes: int) -> None:
        """A plan (of the run, or of its next chunk of accounts) is made: ``writes`` more
        records to write."""
        self._tell(phase="writing", writes_planned=(self._current.writes_planned or 0) + writes)

    def wrote(self, records: int) -> None:
        """``records`` more of the planned writes are done (written or failed)."""
        self._tell(writes_done=self._current.writes_done + records)

    def _tell(self, **changes: Any) -> None:
        self._current = current = replace(self._current, **changes)
        for observer in self._observers:
            try:
                observer.progress(current)
            except Exception as error:  # showing progress must not stop the sync
                log.warning("sync_progress_observer_failed", error=str(error))


def _several(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def progress_text(progress: SyncProgress, clock_time: Callable[[datetime], str]) -> str:
    """What the terminal and the web UI say of a run's progress, in one wording:
    "Writing to HaloPSA: 100 of 600 records; waiting for HaloPSA's rate limit until 18:07".

    ``clock_time`` shows a moment in the reader's time zone.
    """
    if progress.phase == "writing" and progress.writes_planned is not None:
        text = (
            f"Writing to HaloPSA: {progress.writes_done:,} of "
            f"{_several(progress.writes_planned, 'record')}"
        )
    else:
        text = (
            f"Reading HaloPSA: {_several(progress.pages_read, 'page')}, "
            f"{_several(progress.records_read, 'record')}"
        )
    if progress.waiting_until is not None:
        text += f"; waiting for HaloPSA's rate limit until {clock_time(progress.waiting_until)}"
    return text
