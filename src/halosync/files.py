"""Files halosync makes for itself: its user's alone from the first byte.

The database (its -wal and -shm take the database file's mode), the embedded queue, the
key files and backups hold billing data and secrets, so each is created 0600, whatever
the umask would let a default 0644 become. A file the operator made is used as it is.

Processes started together on a fresh data directory (``serve`` and ``worker``, two
workers) race to make the same files: each is created exclusively, and a file with content
appears complete or not at all, so the loser reads the winner's.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import tempfile
from pathlib import Path

from halosync.errors import HalosyncError

OWNER_ONLY = 0o600


class FolderMissingError(HalosyncError):
    """A folder the operator named (``HALOSYNC_DATA_DIR``, a SQLite URL's) does not exist."""


def refuse_missing_folder(
    folder: Path,
    problem: str,
    *,
    setting: str,
    option: str | None = None,
    error: type[FolderMissingError] = FolderMissingError,
) -> None:
    """Refuse a folder the operator named that is not there, instead of creating it.

    The one rule for every place an operator names: a mistyped path would otherwise start a
    second, empty halosync (a new database, a new key) while the real one waits unseen,
    and in a container it would land outside the mounted volume, to vanish with the
    container. Only the default data directory (under ``$XDG_DATA_HOME``) is made by itself.
    """
    if folder.is_dir():
        return
    named = f"{setting} (or {option})" if option else setting
    if folder.exists():
        raise error(problem, fix=f"Correct {named}: it names a file, not a folder.")
    create = f"mkdir -m 700 -p {shlex.quote(str(folder))}"
    only = "halosync creates only its default data directory by itself."
    raise error(
        problem,
        fix=f"Create the folder ({create}) or correct {named}; {only}",
        fixes={
            "api": f"Create the folder ({create}) or correct {setting}; {only}",
            "ui": f"Create the folder ({create}) or correct {setting}; {only}",
        },
    )


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty and owner-only unless it exists; whether this call made it.

    Never replaces or chmods an existing file (another process may have just made it).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def create_private_file_with(path: Path, content: str) -> bool:
    """Create ``path`` holding ``content``, owner-only, unless it exists; whether this call
    made it. Never replaces an existing file.

    The content is written and flushed to disk under a temporary name and then hard-linked
    to ``path``, which fails if ``path`` exists: whoever finds the file finds it whole.
    """
    temporary = _write_temporary(path, content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    _sync_folder(path.parent)
    return True


def replace_private_file(path: Path, content: str) -> None:
    """Replace ``path`` (or create it) with ``content``, owner-only, in one step: a reader
    sees the old content or the new, never a mix, and a crash leaves one of them."""
    temporary = _write_temporary(path, content)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    _sync_folder(path.parent)


def _write_temporary(path: Path, content: str) -> str:
    # A name of this call's own (mkstemp: 0600, exclusive) beside ``path``, on its file system.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


def _sync_folder(folder: Path) -> None:
    # The new name must outlive a power cut as the data written with its key does.
    with contextlib.suppress(OSError):  # some file systems cannot open or sync a folder
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def readable_by_others(path: Path) -> bool:
    """Whether users other than the owner may read ``path``: its group or others have read
    on it and may enter its folder. (A folder closed to them, the data directory 0700,
    keeps even a 0644 file private.)"""
    mode = path.stat().st_mode
    folder = path.parent.stat().st_mode
    group = bool(mode & stat.S_IRGRP and folder & stat.S_IXGRP)
    others = bool(mode & stat.S_IROTH and folder & stat.S_IXOTH)
    return group or others
