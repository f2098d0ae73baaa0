"""Structured logging (structlog) with a redaction step for secrets.

Secrets reach logs two ways: as a value under a tell-tale key (``client_secret``,
``authorization``...) or embedded in free text (an URL, an error message). The first is
caught by key, the second by remembering every secret value this process has handled
(:func:`register_secret`) and scrubbing it from every rendered string.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

MASK = "********"

_SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|token|authorization|api[_-]?key|cookie|fernet)", re.IGNORECASE
)
_known_secrets: set[str] = set()
_known_lock = threading.Lock()
# Bearer tokens and form-encoded secrets that slip into messages (e.g. a request body).
_INLINE_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:client_secret|access_token|refresh_token|password)=)[^&\s\"']+"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is scrubbed from every log line."""
    if value and len(value) >= 4:
        with _known_lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Replace every known secret and inline credential in ``text`` by the mask."""
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
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


def configure_logging(*, log_format: str = "console", level: str = "info") -> None:
    """Configure structlog and the stdlib root logger once for this process."""
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric_level, stream=sys.stderr, format="%(name)s: %(message)s")
    # One line per HTTP request drowns everything else; halosync counts requests itself.
    for chatty in ("httpx2", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind ``workspace`` and ``run`` on it where known."""
    return structlog.get_logger(name)
