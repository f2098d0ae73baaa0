"""What halosync creates on disk is its user's alone: the database (with its -wal and -shm),
the embedded queue and the key file 0600, the data directory 0700, whatever the umask. A
file the operator made is used as it is, never chmod-ed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from halosync.jobs.queue import open_job_queue
from halosync.settings import Settings
from halosync.store.database import Database
from tests.cli_inprocess import data_folder, run_cli


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The usual 022, which lets everyone read a file made with the default 0644."""
    saved = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(saved)


def _modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}


def test_a_new_database_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'halosync.db'}")
    try:
        database.migrate()
        with database.session() as session:
            session.execute(text("SELECT 1"))
        # While it is open, WAL mode keeps its -wal and -shm beside the database.
        modes = _modes(tmp_path)
    finally:
        database.dispose()
    assert modes == {"halosync.db": 0o600, "halosync.db-wal": 0o600, "halosync.db-shm": 0o600}


def test_a_database_file_the_operator_made_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    path.touch()
    path.chmod(0o640)
    database = Database(f"sqlite:///{path}")
    try:
        database.migrate()
    finally:
        database.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_the_embedded_queue_file_is_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=data_folder(tmp_path), queue="embedded")
    queue = open_job_queue(settings)
    try:
        assert queue.pending() == 0
    finally:
        queue.close()
    assert set(_modes(settings.data_dir).values()) == {0o600}


def test_first_use_makes_an_owner_only_data_directory_and_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "halosync"
    env = {"HALOSYNC_DATA_DIR": None, "XDG_DATA_HOME": str(tmp_path / "fresh")}
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    assert run_cli(env, "keys", "rotate")[0] == 0
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    modes = _modes(data_dir)
    assert {"halosync.db", "secret.key"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
