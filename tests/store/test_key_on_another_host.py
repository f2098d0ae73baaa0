"""Hosts that share one database (PostgreSQL, a worker on another machine) but not the key:
a host that only reads secrets never makes a key of its own. The key file is made by the
first secret encrypted (or the default database's first start); a host without it is told
to copy it, instead of silently making a new key that can read nothing and, once someone
"sets the secret again" there, leaves the first host unable to read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from halosync.settings import Settings
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox, SecretKeyError, rotate_keys
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository


def _host(tmp_path: Path, name: str) -> Settings:
    folder = tmp_path / name
    folder.mkdir()
    return Settings(data_dir=folder)


def test_a_host_without_the_key_file_makes_none_and_says_to_copy_it(tmp_path: Path) -> None:
    web, worker = _host(tmp_path, "web"), _host(tmp_path, "worker")
    stored = SecretBox.from_settings(web).encrypt("halo-secret")
    assert (web.data_dir / "secret.key").is_file()

    box = SecretBox.from_settings(worker)  # a worker starting: no key of its own made
    assert not (worker.data_dir / "secret.key").exists()
    with pytest.raises(SecretKeyError) as refused:
        box.decrypt(stored)
    assert str(worker.data_dir / "secret.key") in refused.value.message
    assert "HALOSYNC_SECRET_KEYS" in refused.value.message
    assert "Copy" in (refused.value.fix or "")
    assert "halo-secret" not in str(refused.value)
    assert not (worker.data_dir / "secret.key").exists()

    # Once the file is copied over, the same (long-running) process reads the secret.
    (worker.data_dir / "secret.key").write_bytes((web.data_dir / "secret.key").read_bytes())
    assert box.decrypt(stored) == "halo-secret"


def test_the_first_secret_makes_the_key_file_a_started_process_then_shares(
    tmp_path: Path,
) -> None:
    host = _host(tmp_path, "host")
    early, late = SecretBox.from_settings(host), SecretBox.from_settings(host)
    assert not (host.data_dir / "secret.key").exists()
    token = late.encrypt("first-halo-secret")
    assert early.decrypt(token) == "first-halo-secret"
    assert early.keys == late.keys != []


def test_rotating_on_a_host_without_the_key_file_makes_none(
    tmp_path: Path, database: Database
) -> None:
    web, worker = _host(tmp_path, "web"), _host(tmp_path, "worker")
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        HaloConnectionRepository(session, workspace.id, SecretBox.from_settings(web)).save(
            ConnectionDetails("https://acme.halopsa.com", None, None, "id", "halo-secret-2")
        )
    with pytest.raises(SecretKeyError, match="no key file"):
        rotate_keys(worker, database.session)
    assert list(worker.data_dir.iterdir()) == []
