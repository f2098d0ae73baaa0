"""An uploaded usage file (the web UI's import page, the REST API's ``/import``): a large
one is validated and written by a child process, so the web process stays quick.

Validating a file is Python work that holds the GIL for seconds (about 3 s of CPU per
100,000 rows); inside the web process every other request then waits its turn for the
GIL at each step, so pages slow down for everybody. A child process has its own GIL and
hands back the report or the refusal exactly as :func:`import_file` raised it (the same
rows and fields named). A small file stays in the web process, where starting the child
(about 0.8 s of CPU to load halosync) would cost more than the work.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from halosync.errors import HalosyncError
from halosync.sources.apply import ImportReport
from halosync.sources.importer import import_file
from halosync.store.database import Database

# About 12,000 rows: a third of a second of validation, less than the child's start-up.
INLINE_UPLOAD_BYTES = 1024 * 1024
_ANSWER = "answer.pickle"


def import_upload(
    database: Database,
    workspace_id: int,
    path: Path,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    inline_limit: int | None = None,
) -> ImportReport:
    """Import the spooled upload at ``path`` (alone in its own private folder) with
    :func:`import_file`'s rules: here when it is at most ``inline_limit`` bytes
    (:data:`INLINE_UPLOAD_BYTES`), in a child process otherwise."""
    limit = INLINE_UPLOAD_BYTES if inline_limit is None else inline_limit
    if path.stat().st_size <= limit or not database.shared_by_processes:
        return import_file(
            database, workspace_id, path, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
        )
    request = {
        "database_url": database.url,
        "workspace_id": workspace_id,
        "path": str(path),
        "snapshot": snapshot,
        "allow_mass_cancel": allow_mass_cancel,
    }
    answer = path.parent / _ANSWER
    # The request travels on stdin: the database URL may hold a password (never in argv).
    done = subprocess.run(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-m", __name__],
        input=json.dumps(request).encode(),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0 or not answer.exists():
        raise HalosyncError(
            f"The import process stopped before it answered (exit status {done.returncode}); "
            "nothing was changed.",
            fix="Try again; if it happens again, see the server's log.",
        )
    # Written by the child just now, in the upload's private folder.
    outcome = pickle.loads(answer.read_bytes())  # noqa: S301
    if isinstance(outcome, HalosyncError):
        raise outcome
    assert isinstance(outcome, ImportReport)
    return outcome


def _main() -> None:
    from halosync.logging import configure_logging
    from halosync.settings import Settings

    # The web process's log settings (the child inherits its environment); log to stderr.
    settings = Settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    request = json.loads(sys.stdin.buffer.read())
    path = Path(request["path"])
    database = Database(request["database_url"], auto_migrate=False)
    outcome: ImportReport | HalosyncError
    try:
        outcome = import_file(
            database,
            int(request["workspace_id"]),
            path,
            snapshot=bool(request["snapshot"]),
            allow_mass_cancel=bool(request["allow_mass_cancel"]),
        )
    except HalosyncError as refused:
        outcome = refused
    finally:
        database.dispose()
    (path.parent / _ANSWER).write_bytes(pickle.dumps(outcome))


if __name__ == "__main__":
    _main()
