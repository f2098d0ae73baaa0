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
import errno
import os
import shlex
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from halosync.errors import HalosyncError

OWNER_ONLY = 0o600


class FileAccessError(HalosyncError):
    """One of halosync's files or folders cannot be read or written (permissions, a
    read-only file system, a full disk): said with the path and the fix, never a traceback."""


@contextlib.contextmanager
def explained(path: Path, what: str) -> Iterator[None]:
    """Turn an ``OSError`` on ``path`` (``what`` it is: "the encryption key file") inside the
    block into a :class:`FileAccessError` naming it and the fix."""
    try:
        yield
    except OSError as error:
        raise file_access_error(path, what, error) from None


def file_access_error(path: Path, what: str, error: OSError) -> FileAccessError:
    """``error`` on ``path`` in the operator's words, with the fix."""
    reason = error.strerror or type(error).__name__
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileAccessError(
            f"Cannot write {what} {path}: the disk is full ({reason}).",
            fix=f"Free space on the disk that holds {path.parent} (df -h "
            f"{shlex.quote(str(path.parent))}), then try again.",
        )
    if error.errno == errno.EROFS:
        return FileAccessError(
            f"Cannot write {what} {path}: its file system is mounted read-only.",
            fix="Mount it read-write, or set HALOSYNC_DATA_DIR (HALOSYNC_DATABASE_URL for the "
            "database) to a folder on a writable file system.",
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return FileAccessError(
            f"Cannot use {what} {path}: permission denied ({ownership(path)}).",
            fix=access_fix(path),
        )
    return FileAccessError(f"Cannot use {what} {path}: {reason}.")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.geteuid())


def _owner(stat_result: os.stat_result) -> str:
    import pwd

    try:
        return pwd.getpwuid(stat_result.st_uid).pw_name
    except KeyError:
        return f"user id {stat_result.st_uid}"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def ownership(path: Path) -> str:
    """Who owns ``path`` (or its nearest existing folder) and its mode, against who runs
    halosync: what an operator needs to see why it was refused."""
    existing = _nearest_existing(path)
    try:
        found = existing.stat()
    except OSError:
        return f"halosync runs as {_user()}"
    mode = f"{stat.S_IMODE(found.st_mode):04o}"
    return f"{existing} belongs to {_owner(found)}, mode {mode}; halosync runs as {_user()}"


def access_fix(path: Path, *more: Path) -> str:
    """How to let the user halosync runs as use ``path`` (and ``more``) and their folder."""
    existing = [_nearest_existing(each) for each in (path, *more)]
    user = _user()
    named = " ".join(shlex.quote(str(each)) for each in dict.fromkeys(existing))
    return (
        f"Run halosync as the user that owns {existing[0]}, or give it to {user} "
        f"(chown {shlex.quote(user)} {named}); halosync needs to read and write its files "
        "and create new ones in their folder."
    )


def sqlite_access_problem(path: Path, what: str) -> tuple[str, str] | None:
    """Why this user cannot use the SQLite file ``path`` (``what`` it is), as a message and
    its fix; or None. SQLite itself says only "unable to open database file" or "attempt
    to write a readonly database"."""
    folder = path.parent
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return (
                f"Cannot write {what} {path}: its file system is mounted read-only.",
                "Mount it read-write, or set HALOSYNC_DATA_DIR (HALOSYNC_DATABASE_URL for the "
                "database) to a folder on a writable file system.",
            )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (
            f"Cannot use {what} {path}: this user may not read and write it ({ownership(path)}).",
            access_fix(path),
        )
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"Cannot use {what} {path}: this user may not create files in its folder, where "
            f"SQLite keeps the -wal and -shm files beside it ({ownership(folder)}).",
            access_fix(folder),
        )
    return None


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
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        return _create_and_write(path, content)
    finally:
        os.unlink(temporary)
    _sync_folder(path.parent)
    return True


# What link() says on a file system without hard links (FAT, some SMB and FUSE mounts).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})


def _create_and_write(path: Path, content: str) -> bool:
    # Second best: created exclusively, so one process's content is everyone's; another
    # may read it in the instant before it is written, which the readers refuse by name.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
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
