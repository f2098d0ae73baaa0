"""Files made on first use in the data directory, by processes that start at once.

``halosync serve`` and ``halosync worker`` (or two workers) started together on a fresh data
directory must end up with one encryption key and one session key: each file is created
exclusively and complete, and whoever loses the race reads the winner's file.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from halosync.errors import HalosyncError
from halosync.files import create_private_file_with
from halosync.settings import Settings
from halosync.store.crypto import SecretBox, create_key_file, key_file_path, parse_keys
from halosync.web.ui.security import SESSION_KEY_FILE, load_session_key

T = TypeVar("T")
RACERS = 8


def _all_at_once(work: Callable[[], T]) -> list[T]:
    """``work`` in RACERS threads released together; what each returned."""
    barrier = threading.Barrier(RACERS)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def racer() -> None:
        barrier.wait()
        try:
            result = work()
        except BaseException as error:  # reported below, with the thread's own traceback
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("attempt", range(3))
def test_racing_processes_share_one_encryption_key(tmp_path: Path, attempt: int) -> None:
    settings = Settings(data_dir=tmp_path)

    def encrypt() -> str:
        return SecretBox.from_settings(settings).encrypt(f"secret-{attempt}")

    tokens = _all_at_once(encrypt)
    on_disk = SecretBox(parse_keys(key_file_path(settings).read_text(encoding="ascii")))
    assert len(on_disk.keys) == 1
    assert {on_disk.decrypt(token) for token in tokens} == {f"secret-{attempt}"}
    assert stat.S_IMODE(key_file_path(settings).stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["secret.key"]


def test_the_first_start_notice_and_a_racing_process_share_one_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    made: list[Path | None] = []

    def either() -> list[str]:
        # The first start making the key while other processes load it.
        made.append(create_key_file(settings))
        return SecretBox.from_settings(settings).keys

    keys = _all_at_once(either)
    assert len({tuple(k) for k in keys}) == 1
    assert made.count(key_file_path(settings)) <= 1


@pytest.mark.parametrize("attempt", range(3))
def test_racing_web_processes_share_one_session_key(tmp_path: Path, attempt: int) -> None:
    settings = Settings(data_dir=tmp_path)
    keys = _all_at_once(lambda: load_session_key(settings))
    on_disk = bytes.fromhex((tmp_path / SESSION_KEY_FILE).read_text(encoding="ascii"))
    assert len(on_disk) == 32
    assert set(keys) == {on_disk}, attempt
    assert stat.S_IMODE((tmp_path / SESSION_KEY_FILE).stat().st_mode) == 0o600


def test_a_private_file_is_made_complete_once(tmp_path: Path) -> None:
    path = tmp_path / "made.txt"
    assert create_private_file_with(path, "first\n")
    assert not create_private_file_with(path, "second\n")
    assert path.read_text() == "first\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["made.txt"]


def test_an_empty_session_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    # What a process that lost the old race (or a full disk) left behind.
    (tmp_path / SESSION_KEY_FILE).touch(mode=0o600)
    with pytest.raises(HalosyncError) as refused:
        load_session_key(Settings(data_dir=tmp_path))
    assert str(tmp_path / SESSION_KEY_FILE) in refused.value.message
    assert "Delete" in (refused.value.fix or "")


def test_a_file_system_without_hard_links_still_gets_the_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FAT and some SMB or FUSE mounts refuse link(): the file is then created exclusively.
    def no_hard_links(source: str, target: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    path = tmp_path / "secret.key"
    assert create_private_file_with(path, "first\n")
    assert not create_private_file_with(path, "second\n")
    assert path.read_text() == "first\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
