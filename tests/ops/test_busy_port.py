"""A port something else holds is refused before anything is announced: one line naming the
port and the option to pass, exit 1, quickly (the simulator's banner and its secret unsaid)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_inprocess import home_env, run_cli


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("simulator", "--port"), "--port"),
        (("serve", "--no-jobs", "--port"), "--port"),
        (("demo", "--once", "--port"), "--port"),
        (("demo", "--port", "0", "--web-port"), "--web-port"),
    ],
)
def test_a_busy_port_is_one_line_before_any_banner(
    tmp_path: Path, busy_port: int, command: tuple[str, ...], option: str
) -> None:
    started = time.monotonic()
    code, out, err = run_cli(home_env(tmp_path), *command, str(busy_port))
    assert code == 1
    assert time.monotonic() - started < 20
    assert "simulator on" not in out
    assert "client secret" not in out
    assert "serving on" not in err
    assert f"error: port {busy_port} is in use; pass {option} (0 picks a free one)" in err
    assert "Traceback" not in err
