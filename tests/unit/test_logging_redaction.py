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
