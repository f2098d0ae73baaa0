"""Files halosync makes for itself: its user's alone from the first byte.

The database (its -wal and -shm take the database file's mode), the embedded queue, the
key files and backups hold billing data and secrets, so each is created 0600, whatever
the umask would let a default 0644 become. A file the operator made is used as it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OWNER_ONLY = 0o600


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


def readable_by_others(path: Path) -> bool:
    """Whether users other than the owner may read ``path``: its group or others have read
    on it and may enter its folder. (A folder closed to them, the data directory 0700,
    keeps even a 0644 file private.)"""
    mode = path.stat().st_mode
    folder = path.parent.stat().st_mode
    group = bool(mode & stat.S_IRGRP and folder & stat.S_IXGRP)
    others = bool(mode & stat.S_IROTH and folder & stat.S_IXOTH)
    return group or others
