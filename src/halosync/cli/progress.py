"""The terminal's progress bar for ``sync usage`` and ``sync customers``.

Shown on stderr, and only when stderr is a terminal and the command was not asked for
``--json``: piped, captured or scripted output stays exactly as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TimeElapsedColumn

from halosync.sync.progress import ProgressObserver, SyncProgress, progress_text


def _local_clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class TerminalProgress:
    """A :class:`~halosync.sync.progress.ProgressObserver` drawing one rich progress bar:
    pulsing while Halo's lists are read, filling as the planned writes are done."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def progress(self, progress: SyncProgress) -> None:
        """Redraw for ``progress``."""
        writing = progress.phase == "writing" and progress.writes_planned is not None
        self._bar.update(
            self._task,
            description=progress_text(progress, _local_clock),
            total=max(progress.writes_planned or 0, 1) if writing else None,
            completed=progress.writes_done if writing else 0,
        )


@contextmanager
def sync_progress(label: str, *, as_json: bool) -> Iterator[list[ProgressObserver]]:
    """The observers to hand a sync: a progress bar on a terminal, none otherwise."""
    if as_json or not sys.stderr.isatty():
        yield []
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield [TerminalProgress(bar, task)]
