from __future__ import annotations

import json

import pytest
import structlog

from halosync.logging import MASK, configure_logging, get_logger, redact_text, register_secret


def test_known_secret_is_scrubbed_from_free_text() -> None:
    register_secret("s3cr3t-value-1234")
    assert redact_text("POST failed with s3cr3t-value-1234 in body") == (
        f"POST failed with {MASK} in body"
    )


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ("grant_type=client_credentials&client_secret=abc-123&scope=all", "abc-123"),
    ],
)
def test_inline_credentials_are_masked(text: str, leaked: str) -> None:
    assert leaked not in redact_text(text)


def test_json_log_masks_secret_keys(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="json")
    get_logger("t").info("connecting", client_secret="plain-secret", server="https://x")
    structlog.reset_defaults()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["client_secret"] == MASK
    assert line["server"] == "https://x"


def test_many_token_refreshes_keep_the_registry_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from halosync.logging import registered_secrets

    register_secret("fernet-key-kept-for-the-whole-process", keep=True)
    register_secret("client-secret-in-use-0123")
    for refresh in range(5_000):
        register_secret(f"access-token-{refresh:06d}-abcdef", expires_in=3600)
    assert registered_secrets() <= 600
    register_secret("client-secret-in-use-0123")  # used again: it stays known

    def no_sorting(*_args: object, **_kwargs: object) -> list[object]:
        raise AssertionError("redaction sorted the registered secrets for one line")

    monkeypatch.setattr(builtins, "sorted", no_sorting)
    line = (
        "token access-token-004999-abcdef, key fernet-key-kept-for-the-whole-process, "
        "secret client-secret-in-use-0123"
    )
    assert redact_text(line) == f"token {MASK}, key {MASK}, secret {MASK}"


def test_expired_tokens_leave_the_registry() -> None:
    from halosync.logging import SecretRegistry

    now = [0.0]
    registry = SecretRegistry(capacity=100, clock=lambda: now[0])
    registry.add("long-lived-client-secret")
    for n in range(50):
        registry.add(f"token-number-{n:04d}", expires_in=60)
        now[0] += 30  # a refresh every 30 s; each token lives 60 s
    assert len(registry) <= 3
    assert registry.redact("token-number-0049 and long-lived-client-secret") == f"{MASK} and {MASK}"


def test_the_longest_secret_wins_where_secrets_overlap() -> None:
    from halosync.logging import SecretRegistry

    registry = SecretRegistry(capacity=10)
    registry.add("abcd")
    registry.add("abcdefgh-longer")
    assert registry.redact("x abcdefgh-longer y abcd z") == f"x {MASK} y {MASK} z"


_FIRST_LINE = """
import sys
from halosync.logging import configure_logging, get_logger
log = get_logger("first")
configure_logging(log_format="json", level="warning")
assert "structlog" not in sys.modules, "configuring alone imported structlog"
log.info("not shown")
assert "structlog" in sys.modules
log.warning("connecting", client_secret="plain-secret", server="https://x")
"""


def test_logging_configured_before_structlog_is_loaded_applies_at_the_first_line() -> None:
    """A process configures logging without importing structlog (most commands log nothing);
    the first line logged loads it with that configuration: format, level and redaction."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FIRST_LINE], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = json.loads(lines[0])
    assert (line["event"], line["level"]) == ("connecting", "warning")
    assert line["client_secret"] == MASK


def test_console_log_lines_cannot_be_forged_by_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="console")
    name = "evil\r\nerror: forged \u202eTDL"
    get_logger("test").info(f"synced {name}", workspace=name)
    structlog.reset_defaults()  # the capture's stream closes after this test
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "synced evil\\r\\nerror: forged \\u202eTDL" in err
    assert "\u202e" not in err
