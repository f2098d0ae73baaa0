"""Structured logging (structlog) with a redaction step for secrets.

Secrets reach logs two ways: as a value under a tell-tale key (``client_secret``,
``authorization``...) or embedded in free text (an URL, an error message). The first is
caught by key, the second by remembering the secret values this process handles
(:func:`register_secret`) and scrubbing them from every rendered string.

The remembered set stays bounded however long the process lives: access tokens leave it
when they expire, other per-use secrets (client secrets, API tokens) are the least recently
registered first out of a capped set, and the few process-wide ones (encryption keys, the
SMTP password) are kept. Each line is checked against a ready, longest-first tuple.

structlog (with rich, which its console renderer loads) is imported when the first line
is logged, not when this module is: most commands log nothing, and importing it was a
sixth of ``halosync logs``'s start-up. :func:`configure_logging` asked for before then is
applied at that moment.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from types import ModuleType
from typing import Any

from halosync.domain.text import escaped

MASK = "********"

_SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|token|authorization|api[_-]?key|cookie|fernet)", re.IGNORECASE
)
# Bearer tokens and form-encoded secrets that slip into messages (e.g. a request body).
_INLINE_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:client_secret|access_token|refresh_token|password)=)[^&\s\"']+"),
)
MIN_SECRET_LENGTH = 4
SECRET_CAPACITY = 512
"""Per-use secrets remembered at most; a secret in use is registered again and stays."""
KEPT_CAPACITY = 64
"""Process-wide secrets (``keep=True``) remembered at most."""


class SecretRegistry:
    """Secret values to scrub from text: bounded, expiring, checked without sorting per line."""

    def __init__(
        self,
        capacity: int = SECRET_CAPACITY,
        *,
        kept_capacity: int = KEPT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._kept_capacity = kept_capacity
        self._clock = clock
        self._lock = threading.Lock()
        # value -> when it expires (math.inf: never); insertion order is recency.
        self._used: OrderedDict[str, float] = OrderedDict()
        self._kept: OrderedDict[str, None] = OrderedDict()
        self._next_expiry = math.inf
        self._longest_first: tuple[str, ...] = ()

    def add(
        self, value: str | None, *, expires_in: float | None = None, keep: bool = False
    ) -> None:
        """Remember ``value``; ``expires_in`` seconds for a token, ``keep`` for a key."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if keep:
                changed = self._remember(self._kept, value, None, self._kept_capacity)
            else:
                expires = math.inf if expires_in is None else self._clock() + expires_in
                expires = max(expires, self._used.get(value, expires))
                self._next_expiry = min(self._next_expiry, expires)
                changed = self._remember(self._used, value, expires, self._capacity)
            changed |= self._drop_expired()
            if changed:
                self._rebuild()

    @staticmethod
    def _remember(entries: OrderedDict[str, Any], value: str, payload: Any, capacity: int) -> bool:
        new = value not in entries
        entries[value] = payload
        entries.move_to_end(value)
        while len(entries) > capacity:
            entries.popitem(last=False)
        return new

    def _drop_expired(self) -> bool:
        now = self._clock()
        if now < self._next_expiry:
            return False
        expired = [value for value, expires in self._used.items() if expires <= now]
        for value in expired:
            del self._used[value]
        self._next_expiry = min(self._used.values(), default=math.inf)
        return bool(expired)

    def _rebuild(self) -> None:
        # Longest first, so a secret that contains another is masked whole.
        values = set(self._used) | set(self._kept)
        self._longest_first = tuple(sorted(values, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every remembered secret replaced by the mask."""
        if self._clock() >= self._next_expiry:
            with self._lock:
                if self._drop_expired():
                    self._rebuild()
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __len__(self) -> int:
        return len(self._longest_first)


_registry = SecretRegistry()


def register_secret(
    value: str | None, *, expires_in: float | None = None, keep: bool = False
) -> None:
    """Remember a secret value so that it is scrubbed from every log line.

    ``expires_in``: the seconds an access token stays valid (it is forgotten after).
    ``keep``: a process-wide secret (an encryption key, the SMTP password) never forgotten.
    """
    _registry.add(value, expires_in=expires_in, keep=keep)


def registered_secrets() -> int:
    """How many secret values redaction currently checks for."""
    return len(_registry)


def redact_text(text: str) -> str:
    """Replace every known secret and inline credential in ``text`` by the mask."""
    text = _registry.redact(text)
    for pattern in _INLINE_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY_PATTERN.search(key) and value not in (None, "", MASK):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-looking keys and known secret values."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def console_escape_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor for the console format: controls in the message escaped, so a
    name in it (a workspace's kept from before CR/LF was refused, one HaloPSA answered)
    cannot forge a log line, reorder one (U+202E) or drive the terminal. The renderer
    shows the other values by their repr, which escapes them already; JSON escapes all."""
    event = event_dict.get("event")
    if isinstance(event, str):
        event_dict["event"] = escaped(event)
    return event_dict


# The configuration asked for before structlog was imported: (format, numeric level).
_deferred: tuple[str, int] | None = None


def configure_logging(*, log_format: str = "console", level: str = "info") -> None:
    """Configure structlog and the stdlib root logger once for this process."""
    global _deferred
    numeric_level = logging.getLevelName(level.upper())
    logging.basicConfig(level=numeric_level, stream=sys.stderr, format="%(name)s: %(message)s")
    # One line per HTTP request drowns everything else; halosync counts requests itself.
    for chatty in ("httpx2", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
    loaded = sys.modules.get("structlog")
    if loaded is None:
        _deferred = (log_format, numeric_level)
    else:
        _deferred = None
        _configure_structlog(loaded, log_format, numeric_level)


def _configure_structlog(structlog: ModuleType, log_format: str, numeric_level: int) -> None:
    renderers: list[Any]
    if log_format == "json":
        renderers = [structlog.processors.JSONRenderer()]
    else:
        renderers = [
            console_escape_processor,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _structlog() -> ModuleType:
    """structlog, imported (and configured as asked) on first use."""
    global _deferred
    import structlog

    if _deferred is not None:
        log_format, numeric_level = _deferred
        _deferred = None
        _configure_structlog(structlog, log_format, numeric_level)
    return structlog


class _Logger:
    """A logger that imports structlog when it is first used; then structlog's own."""

    __slots__ = ("_bound", "_name")

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._bound: Any = None

    def __getattr__(self, attribute: str) -> Any:
        if self._bound is None:
            self._bound = _structlog().get_logger(self._name)
        return getattr(self._bound, attribute)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind ``workspace`` and ``run`` on it where known."""
    return _Logger(name)
