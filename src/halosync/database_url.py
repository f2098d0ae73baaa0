"""The one rule for SQLite database URLs: which file a URL opens, and the URL of a file.

Every part of halosync that needs the file behind ``HALOSYNC_DATABASE_URL`` (the database
handle making it owner-only, the refusal of a missing folder, ``db backup``, the doctor,
the import's choice of spooling) asks :func:`sqlite_file`, which follows what SQLAlchemy's
pysqlite dialect hands SQLite: a plain path (relative to the working directory), or with
``uri=true`` a ``file:`` URI whose path is percent-decoded and whose ``mode=memory`` (or
``:memory:``) is no file at all. A URL for a path is only ever built by :func:`sqlite_url`,
which escapes what a URL would otherwise take as its query (``?``) or an escape (``%``).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote

from sqlalchemy.engine import URL, make_url

_MEMORY = ":memory:"


def sqlite_url(path: Path) -> str:
    """The SQLite URL of the database file ``path``."""
    url = URL.create("sqlite", database=os.path.abspath(path))
    return url.render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The file (absolute) a SQLite URL opens; None for other databases and in-memory ones."""
    filename = _sqlite_filename(url)
    if filename is None:
        return None
    if not filename.startswith("file:"):
        return None if filename == _MEMORY else _absolute(filename)
    if _uri_mode(filename) == "memory":
        return None
    # SQLite's URI filenames (https://sqlite.org/uri.html): the path is percent-decoded;
    # file:///path and file://localhost/path name the same file as file:/path.
    path = filename[len("file:") :].split("#", 1)[0].split("?", 1)[0]
    if path.startswith("//"):
        path = "/" + path[2:].partition("/")[2]
    path = unquote(path)
    return None if path in ("", _MEMORY) else _absolute(path)


def sqlite_creates_file(url: str) -> bool:
    """Whether SQLite may create the URL's file: not when a URI opens it ``mode=ro`` or
    ``mode=rw`` (a missing file is then SQLite's error, and must stay missing)."""
    filename = _sqlite_filename(url) or ""
    return not filename.startswith("file:") or _uri_mode(filename) not in ("ro", "rw")


# The query parameters pysqlite takes for itself; with uri=true the rest go to SQLite.
_PYSQLITE_ARGS = frozenset(
    {"uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
)
_TRUE = frozenset({"true", "yes", "on", "y", "t", "1"})


def _sqlite_filename(url: str) -> str | None:
    """The filename SQLAlchemy's pysqlite dialect passes to SQLite for ``url``
    (``create_connect_args``); None for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if (_last(parsed.query.get("uri")) or "").lower() not in _TRUE:
        # Made absolute, so never taken as a URI (SQLite may be built to read "file:" ones).
        return os.path.abspath(name) if name not in ("", _MEMORY) else _MEMORY
    extra = {key: _last(value) for key, value in parsed.query.items() if key not in _PYSQLITE_ARGS}
    if extra:
        name += "?" + "&".join(f"{key}={extra[key]}" for key in sorted(extra))
    return name


def _uri_mode(filename: str) -> str | None:
    query = filename.split("#", 1)[0].partition("?")[2]
    return _last(parse_qs(query).get("mode"))


def _absolute(name: str) -> Path:
    return Path(os.path.abspath(name))


def _last(value: str | tuple[str, ...] | list[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value[-1] if value else None
