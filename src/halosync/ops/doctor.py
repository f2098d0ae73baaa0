"""``halosync doctor``: every check an operator would make by hand, with what to fix.

Settings, the database (reachable, schema current), the encryption key (present, opens
every stored secret), the job queue, and each workspace's Halo connection (Test
Connection). A check that depends on a failed one is skipped, not failed twice. Nothing
is created or migrated: on a fresh install the doctor reports what will be created.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halosync.connection.service import ConnectionService
from halosync.database_url import sqlite_file
from halosync.errors import HalosyncError
from halosync.files import access_fix, ownership, readable_by_others
from halosync.jobs.queue import EMBEDDED_QUEUE_FILE, open_job_queue
from halosync.ops.checks import Check, check_database, check_queue, display_url, first_line
from halosync.settings import Settings
from halosync.store.connections import encrypted_secrets, workspaces_connected
from halosync.store.crypto import SecretBox, SecretKeyError, key_file_path
from halosync.store.database import Database, refuse_missing_folder
from halosync.store.search import TRIGRAM_INDEX_SQL, has_trigram_index


@dataclass
class DoctorReport:
    """Every check, in the order it ran."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check found a problem."""
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {"ok": self.ok, "checks": [check.to_dict() for check in self.checks]}


def settings_check(settings: Settings) -> Check:
    """The settings parsed; where the data lives and that the data directory is usable."""
    problem = _data_dir_problem(settings)
    if problem is not None:
        return Check("settings", "problem", problem.message, fix=problem.fix)
    if _uses_data_dir(settings):
        folder = settings.data_dir
        # The nearest existing folder must let us create what is missing (first use).
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            return Check(
                "settings",
                "problem",
                f"The data directory {folder} cannot be written by this user "
                f"({ownership(existing)}).",
                fix=access_fix(existing),
            )
    database = display_url(database_url(settings))
    return Check(
        "settings",
        "ok",
        f"database {database}; queue {settings.queue}; data directory {settings.data_dir}",
    )


def _uses_data_dir(settings: Settings) -> bool:
    uses_data_dir = settings.database_url is None or settings.secret_keys is None
    return uses_data_dir or settings.queue == "embedded"


def _data_dir_problem(settings: Settings) -> HalosyncError | None:
    return settings.data_dir_problem() if _uses_data_dir(settings) else None


def files_check(settings: Settings) -> Check:
    """None of halosync's files that exist may be read by other users. halosync creates
    them owner-only; one the operator made (or an older halosync) is named, not chmod-ed."""
    # The web UI's module is loaded for its file name alone when the doctor runs.
    from halosync.web.ui.security import SESSION_KEY_FILE

    candidates = [
        sqlite_file(database_url(settings)),
        key_file_path(settings) if settings.secret_keys is None else None,
        settings.data_dir / EMBEDDED_QUEUE_FILE if settings.queue == "embedded" else None,
        # Whoever reads it can forge the CSRF token of any session cookie they hold.
        settings.data_dir / SESSION_KEY_FILE,
    ]
    unusable = [path for path in candidates if path is not None and _unusable(path)]
    if unusable:
        return Check(
            "files",
            "problem",
            f"This user may not read and write {', '.join(map(str, unusable))} "
            f"({ownership(unusable[0])}).",
            fix=access_fix(*unusable),
        )
    exposed = [str(path) for path in candidates if path is not None and _readable_by_others(path)]
    if not exposed:
        return Check(
            "files", "ok", "no other user may read the database, key, session key or queue file"
        )
    return Check(
        "files",
        "problem",
        f"Other users may read {', '.join(exposed)}: billing data and secrets.",
        fix=f"Make them owner-only: chmod 600 {' '.join(exposed)} (halosync makes its own "
        "files so, but never changes the mode of a file it did not make).",
    )


def _unusable(path: Path) -> bool:
    return path.exists() and not os.access(path, os.R_OK | os.W_OK)


def _readable_by_others(path: Path) -> bool:
    try:
        return readable_by_others(path)
    except OSError:
        return False  # missing (not made yet) or unreadable: the other checks say so


def settings_problem_check(problem: str) -> Check:
    """The settings did not parse: nothing else can be checked."""
    return Check(
        "settings",
        "problem",
        f"Invalid settings: {problem}",
        fix="Correct the HALOSYNC_* environment variables named above.",
    )


def _key_box(settings: Settings) -> tuple[SecretBox | None, Check | None]:
    """The configured keys, without creating a key file; or the problem with them."""
    try:
        if settings.secret_keys is not None:
            return SecretBox.from_settings(settings), None
        path = key_file_path(settings)
        if not path.exists():
            return None, None
        return SecretBox.from_settings(settings), None
    except HalosyncError as error:  # keys that are no keys, a file this user cannot read
        return None, Check("key", "problem", error.message, fix=error.fix)
    except OSError as error:
        return None, Check(
            "key",
            "problem",
            f"Cannot read the key file {key_file_path(settings)}: {error.strerror}.",
            fix="Make it readable by the user halosync runs as (mode 600).",
        )


def stored_secrets(database: Database) -> list[tuple[str, str]]:
    """(workspace name, encrypted Halo client secret) of every connected workspace."""
    with database.session() as session:
        return encrypted_secrets(session)


def key_check(
    settings: Settings, stored: Sequence[tuple[str, str]]
) -> tuple[Check, SecretBox | None, list[str]]:
    """The key is present and opens every stored secret; also the box and what it cannot open."""
    box, problem = _key_box(settings)
    if problem is not None:
        return problem, None, [name for name, _ in stored]
    if box is None:
        path = key_file_path(settings)
        if stored:
            return (
                Check(
                    "key",
                    "problem",
                    f"No encryption key: {path} is missing and HALOSYNC_SECRET_KEYS is unset, "
                    f"so the Halo secrets of {len(stored)} workspace(s) cannot be read.",
                    fix=f"Restore {path} from your backup, or set HALOSYNC_SECRET_KEYS to the keys "
                    "they were encrypted with.",
                ),
                None,
                [name for name, _ in stored],
            )
        return Check("key", "ok", f"no key yet; {path} is created on first use"), None, []
    unreadable: list[str] = []
    for name, ciphertext in stored:
        try:
            box.decrypt(ciphertext)
        except SecretKeyError:
            unreadable.append(name)
    if unreadable:
        return (
            Check(
                "key",
                "problem",
                f"The keys from {box.origin} cannot decrypt the Halo client secret of "
                f"workspace(s) {', '.join(unreadable)}.",
                fix="Add the key they were encrypted with to HALOSYNC_SECRET_KEYS after the "
                "current one (then run `halosync keys rotate`), or set each connection again.",
            ),
            box,
            unreadable,
        )
    return (
        Check(
            "key",
            "ok",
            f"{len(box.keys)} key(s) from {box.origin}; all {len(stored)} stored secret(s) decrypt",
        ),
        box,
        [],
    )


def queue_check(settings: Settings) -> Check:
    """Open the configured queue and ask it one thing (an embedded one only if it exists)."""
    if settings.queue == "embedded":
        path = settings.data_dir / EMBEDDED_QUEUE_FILE
        if not path.exists():
            return Check("queue", "ok", f"embedded queue: {path} is created on first use")
    try:
        queue = open_job_queue(settings)
    except HalosyncError as error:
        return Check("queue", "problem", error.message, fix=error.fix)
    except Exception as error:
        return Check("queue", "problem", f"Cannot open the job queue: {first_line(error)}")
    try:
        return check_queue(queue, settings)
    finally:
        queue.close()


def _workspaces(database: Database, only: str | None) -> list[tuple[str, bool]]:
    """(name, has a connection) of every workspace, or of the one ``--workspace`` names."""
    with database.session() as session:
        rows = workspaces_connected(session)
    chosen = [
        (name, connected)
        for ws_id, name, connected in rows
        if only is None or only in (name, str(ws_id))
    ]
    if only is not None and not chosen:
        raise HalosyncError(f"No workspace {only!r}.", fix="See `halosync workspace list`.")
    return chosen


async def connection_check(service: ConnectionService, name: str) -> Check:
    """Test Connection on the workspace's stored connection (token, then each permission)."""
    label = f"workspace {name}"
    try:
        outcome = await service.test(name)
    except HalosyncError as error:
        return Check(label, "problem", f"Test is not successful. {error.message}", fix=error.fix)
    if outcome.success:
        return Check(label, "ok", f"Halo connection: {outcome.message}")
    return Check(
        label,
        "problem",
        f"Halo connection: {outcome.message} {outcome.cause or ''}".strip(),
        fix=f"Correct the connection (halosync connection set --workspace {name} ...) or the "
        "API application in Halo, then run `halosync connection test`.",
    )


def database_url(settings: Settings) -> str:
    """The configured database URL, without creating the data directory."""
    return settings.database_url or settings.default_database_url


def _missing_sqlite_file(url: str) -> Path | None:
    path = sqlite_file(url)
    return None if path is None or path.exists() else path


async def run_doctor(
    settings: Settings | None,
    *,
    settings_problem: str | None = None,
    workspace: str | None = None,
) -> DoctorReport:
    """Run every check; later checks are skipped when what they need failed."""
    report = DoctorReport()
    if settings is None:
        report.checks.append(settings_problem_check(settings_problem or "unreadable"))
        return report
    report.checks.append(settings_check(settings))
    report.checks.append(files_check(settings))
    if _data_dir_problem(settings) is not None:
        # Every command stops at it: nothing after it would be made or read.
        for name in ("database", "queue", "key"):
            report.checks.append(
                Check(name, "skipped", "not checked: the data directory must exist first")
            )
        return report
    url = database_url(settings)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        # Connecting would create the file: report what first use will do instead.
        report.checks.append(_no_database_yet(missing, settings))
        report.checks.append(queue_check(settings))
        report.checks.append(key_check(settings, [])[0])
        return report
    # The doctor never migrates, whatever HALOSYNC_AUTO_MIGRATE says.
    database = Database(url, auto_migrate=False)
    try:
        database_check = check_database(database, migrates_on_start=settings.auto_migrate)
        report.checks.append(database_check)
        report.checks.append(queue_check(settings))
        if database_check.status != "ok":
            needs = "the database" if database_check.status == "problem" else "the migration"
            report.checks.append(_skipped("key", needs))
            report.checks.append(_skipped("workspaces", needs))
            return report
        if database.dialect == "postgresql":
            report.checks.append(search_index_check(database))
        key, box, unreadable = key_check(settings, stored_secrets(database))
        report.checks.append(key)
        service = ConnectionService(database, settings, box=box) if box is not None else None
        for name, connected in _workspaces(database, workspace):
            label = f"workspace {name}"
            if not connected:
                report.checks.append(
                    Check(label, "skipped", "no Halo connection yet (halosync connection set)")
                )
            elif service is None or name in unreadable:
                report.checks.append(_skipped(label, "the key"))
            else:
                report.checks.append(await connection_check(service, name))
    finally:
        database.dispose()
    return report


def search_index_check(database: Database) -> Check:
    """PostgreSQL: the account grid's search and the client picker seek trigram indexes,
    or (pg_trgm was not available to the migration) read every row; slower at scale, not
    wrong."""
    with database.engine.connect() as connection:
        if has_trigram_index(connection):
            return Check("search index", "ok", "the searches read their trigram indexes")
    return Check(
        "search index",
        "ok",
        "no trigram indexes (the pg_trgm extension was not available when the schema was"
        " migrated): the account search and the client picker read every row, slow beyond"
        " ~20,000 accounts.\n"
        f"To add them, a database owner runs: {TRIGRAM_INDEX_SQL}",
    )


def _no_database_yet(path: Path, settings: Settings) -> Check:
    if settings.database_url is not None:
        # Only the default data directory is made on first use (it is not checked here).
        try:
            refuse_missing_folder(path)
        except HalosyncError as error:
            return Check("database", "problem", error.message, fix=error.fix)
    if settings.auto_migrate:
        return Check("database", "ok", f"no database yet: {path} is created on first use")
    return Check(
        "database",
        "problem",
        f"There is no database at {path} and HALOSYNC_AUTO_MIGRATE is off.",
        fix="Create it with `halosync db upgrade`.",
    )


def _skipped(name: str, needs: str) -> Check:
    return Check(name, "skipped", f"not checked: {needs} must be done first")


def render(checks: Sequence[Check]) -> list[str]:
    """Human-readable lines: one per check, the fix indented under a problem."""
    marks = {"ok": "ok     ", "pending": "pending", "problem": "PROBLEM", "skipped": "skipped"}
    width = max((len(check.name) for check in checks), default=0)
    lines: list[str] = []
    indent = " " * (9 + width + 2)
    for check in checks:
        first, *more = check.detail.splitlines() or [""]
        lines.append(f"{marks[check.status]}  {check.name.ljust(width)}  {first}")
        lines.extend(f"{indent}{line}" for line in more)
        if check.status == "problem" and check.fix:
            lines.append(f"{indent}fix: {check.fix}")
    return lines
