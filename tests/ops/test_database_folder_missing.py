"""An explicit SQLite URL whose folder does not exist is refused, never created: a typo in
HALOSYNC_DATABASE_URL must not start a second, empty database somewhere. Only the default
data directory is made on first use."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.errors import HalosyncError
from halosync.settings import Settings
from halosync.store.database import Database
from tests.cli_inprocess import data_folder, run_cli


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port held open, so that ``serve`` would stop at once if it got that far."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_the_database_refuses_a_missing_folder_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "missing" / "dir"
    with pytest.raises(HalosyncError) as refused:
        Database(f"sqlite:///{folder / 'x.db'}")
    assert str(folder) in str(refused.value)
    assert "HALOSYNC_DATABASE_URL" in str(refused.value)
    assert not (tmp_path / "missing").exists()


def test_the_default_data_directory_is_still_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HALOSYNC_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "fresh"))
    settings = Settings()
    database = Database.from_settings(settings)
    try:
        database.migrate()
    finally:
        database.dispose()
    assert (tmp_path / "fresh" / "halosync" / "halosync.db").is_file()


@pytest.mark.parametrize(
    "command",
    [
        ("workspace", "list"),
        ("import", "--workspace", "acme", "IMPORT"),
        ("sync", "customers", "--workspace", "acme"),
        ("db", "upgrade"),
        ("db", "status"),
        ("keys", "rotate"),
        ("serve", "--no-jobs", "--port", "PORT"),
    ],
)
def test_every_command_says_it_in_one_line(
    tmp_path: Path, busy_port: int, command: tuple[str, ...]
) -> None:
    vendor_file = tmp_path / "usage.csv"
    vendor_file.write_text("account_ref,account_name\n", encoding="utf-8")
    args = [{"IMPORT": str(vendor_file), "PORT": str(busy_port)}.get(arg, arg) for arg in command]
    folder = tmp_path / "missing" / "dir"
    env = {
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{folder / 'x.db'}",
    }
    code, out, err = run_cli(env, *args)
    assert (code, out) == (1, ""), err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert str(folder) in lines[0]
    assert "HALOSYNC_DATABASE_URL" in lines[0]
    assert not (tmp_path / "missing").exists()


def test_the_doctor_reports_it_instead_of_promising_to_create_it(tmp_path: Path) -> None:
    folder = tmp_path / "missing" / "dir"
    env = {
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{folder / 'x.db'}",
    }
    code, out, _ = run_cli(env, "doctor", "--json")
    assert code == 1
    checks = {check["name"]: check for check in json.loads(out)["checks"]}
    assert checks["database"]["status"] == "problem"
    assert str(folder) in checks["database"]["detail"]
    assert "mkdir -m 700 -p" in checks["database"]["fix"]
    assert not (tmp_path / "missing").exists()
