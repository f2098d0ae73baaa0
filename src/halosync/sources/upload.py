"""Usage sent to the web app (the UI's import page, the REST API's ``/import`` and
``/usage``): a large upload is validated and written by a child process, so the web
process stays quick.

Validating usage is Python work that holds the GIL for seconds (about 3 s of CPU per
100,000 rows); inside the web process every other request then waits its turn for the
GIL at each step, so pages slow down for everybody. A child process has its own GIL and
hands back the report or the refusal exactly as :func:`import_file` or
:func:`upsert_usage` raised it (the same rows, fields and JSON paths named). A small
upload stays in the web process, where starting the child (about 0.8 s of CPU to load
halosync) would cost more than the work.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from halosync.errors import HalosyncError
from halosync.sources.apply import ImportReport
from halosync.sources.importer import UpsertOutcome, import_file, upsert_usage
from halosync.store.database import Database

# About 12,000 rows: a third of a second of validation, less than the child's start-up.
INLINE_UPLOAD_BYTES = 1024 * 1024
_ANSWER = "answer.pickle"
_BODY = "body.json"


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
    if _in_place(database, path.stat().st_size, inline_limit):
        return import_file(
            database, workspace_id, path, snapshot=snapshot, allow_mass_cancel=allow_mass_cancel
        )
    request = {"work": "file", "path": str(path), "workspace_id": workspace_id}
    options = {"snapshot": snapshot, "allow_mass_cancel": allow_mass_cancel}
    outcome = _in_child(database, path.parent, request | options)
    assert isinstance(outcome, ImportReport)
    return outcome


def upsert_upload(
    database: Database,
    workspace_id: int,
    body: bytes,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
    idempotency_key: str | None = None,
    inline_limit: int | None = None,
) -> UpsertOutcome:
    """:func:`upsert_usage` (the REST API's JSON upsert, its ``Idempotency-Key`` kept):
    here when the body is small, in a child process otherwise."""
    options: dict[str, Any] = {
        "snapshot": snapshot,
        "allow_mass_cancel": allow_mass_cancel,
        "idempotency_key": idempotency_key,
    }
    if _in_place(database, len(body), inline_limit):
        return upsert_usage(database, workspace_id, body, **options)
    with tempfile.TemporaryDirectory(prefix="halosync-upload-") as folder:
        (Path(folder) / _BODY).write_bytes(body)
        request = {"work": "upsert", "workspace_id": workspace_id}
        outcome = _in_child(database, Path(folder), request | options)
    assert isinstance(outcome, UpsertOutcome)
    return outcome


def _in_place(database: Database, size: int, inline_limit: int | None) -> bool:
    limit = INLINE_UPLOAD_BYTES if inline_limit is None else inline_limit
    return size <= limit or not database.shared_by_processes


def _in_child(database: Database, folder: Path, request: dict[str, Any]) -> object:
    """Run ``request`` in a child process working in ``folder`` (private to this upload);
    its outcome, or its refusal raised here."""
    answer = folder / _ANSWER
    # The request travels on stdin: the database URL may hold a password (never in argv).
    done = subprocess.run(  # noqa: S603 (this interpreter, this module)
        [sys.executable, "-m", __name__],
        input=json.dumps(request | {"database_url": database.url, "folder": str(folder)}).encode(),
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
    return outcome


def _main() -> None:
    from halosync.logging import configure_logging
    from halosync.settings import Settings

    # The web process's log settings (the child inherits its environment); log to stderr.
    settings = Settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    request = json.loads(sys.stdin.buffer.read())
    folder = Path(request["folder"])
    workspace_id = int(request["workspace_id"])
    snapshot, allow_mass_cancel = bool(request["snapshot"]), bool(request["allow_mass_cancel"])
    database = Database(request["database_url"], auto_migrate=False)
    outcome: object
    try:
        if request["work"] == "upsert":
            outcome = upsert_usage(
                database,
                workspace_id,
                (folder / _BODY).read_bytes(),
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
                idempotency_key=request["idempotency_key"],
            )
        else:
            outcome = import_file(
                database,
                workspace_id,
                Path(request["path"]),
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
            )
    except HalosyncError as refused:
        outcome = refused
    finally:
        database.dispose()
    (folder / _ANSWER).write_bytes(pickle.dumps(outcome))


if __name__ == "__main__":
    _main()
