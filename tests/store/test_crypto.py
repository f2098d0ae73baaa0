"""Secrets at rest: encryption, the key file, and rotation in one transaction."""

from __future__ import annotations

import stat

import pytest
from pydantic import SecretStr

from halosync.settings import Settings
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import (
    SecretBox,
    SecretKeyError,
    generate_key,
    key_file_path,
    parse_keys,
    rotate_keys,
)
from halosync.store.database import Database
from halosync.store.models import HaloConnection
from halosync.store.workspaces import WorkspaceRepository


def test_encrypt_decrypt_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("s3cret-value")
    assert "s3cret-value" not in token
    assert box.decrypt(token) == "s3cret-value"


def test_old_keys_decrypt_new_key_encrypts() -> None:
    old, new = generate_key(), generate_key()
    old_token = SecretBox([old]).encrypt("x1234")
    box = SecretBox([new, old])
    assert box.decrypt(old_token) == "x1234"
    assert SecretBox([new]).decrypt(box.encrypt("y1234")) == "y1234"


def test_wrong_key_gives_a_clear_error_without_the_key() -> None:
    key = generate_key()
    token = SecretBox([generate_key()]).encrypt("abcd1234")
    with pytest.raises(SecretKeyError, match="cannot be decrypted") as caught:
        SecretBox([key]).decrypt(token)
    assert key not in str(caught.value)


def test_invalid_key_is_named_by_position() -> None:
    with pytest.raises(SecretKeyError, match="#2"):
        SecretBox([generate_key(), "not-a-key"])


def test_key_file_is_created_once_owner_only() -> None:
    settings = Settings()
    first = SecretBox.from_settings(settings)
    token = first.encrypt("s3cret-value")  # the first secret makes it
    path = key_file_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SecretBox.from_settings(settings).keys == first.keys
    assert SecretBox.from_settings(settings).decrypt(token) == "s3cret-value"


def test_keys_from_settings_take_precedence() -> None:
    keys = [generate_key(), generate_key()]
    settings = Settings(secret_keys=SecretStr(",".join(keys)))
    assert SecretBox.from_settings(settings).keys == keys
    assert not key_file_path(settings).exists()


def _store_secret(db: Database, box: SecretBox, secret: str) -> int:
    with db.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        HaloConnectionRepository(session, workspace.id, box).save(
            ConnectionDetails("https://x.example", None, None, "client", secret)
        )
        return workspace.id


def test_rotation_with_the_key_file_reencrypts_and_drops_old_keys() -> None:
    settings = Settings()
    db = Database.from_settings(settings)
    db.migrate()
    old_box = SecretBox.from_settings(settings)
    workspace_id = _store_secret(db, old_box, "the-client-secret")
    report = rotate_keys(settings, db.session)
    assert report.secrets == 1
    new_box = SecretBox.from_settings(settings)
    assert new_box.keys != old_box.keys
    assert len(new_box.keys) == 1
    with db.session() as session:
        details = HaloConnectionRepository(session, workspace_id, new_box).details()
        assert details is not None
        assert details.client_secret == "the-client-secret"
        assert "the-client-secret" not in repr(details)
    db.dispose()


def test_rotation_with_env_keys_uses_the_first(database: Database) -> None:
    old = generate_key()
    workspace_id = _store_secret(database, SecretBox([old]), "secret-two")
    new = generate_key()
    settings = Settings(secret_keys=SecretStr(f"{new},{old}"))
    assert rotate_keys(settings, database.session).secrets == 1
    with database.session() as session:
        details = HaloConnectionRepository(session, workspace_id, SecretBox([new])).details()
        assert details is not None
        assert details.client_secret == "secret-two"


def test_rotation_is_all_or_nothing(database: Database) -> None:
    good, unknown = generate_key(), generate_key()
    _store_secret(database, SecretBox([good]), "first-secret")
    with database.session() as session:
        other = WorkspaceRepository(session).create("other")
        HaloConnectionRepository(session, other.id, SecretBox([unknown])).save(
            ConnectionDetails("https://y.example", None, None, "c2", "second-secret")
        )
    with database.session() as session:
        before = sorted(r.client_secret_encrypted for r in session.query(HaloConnection))
    settings = Settings(secret_keys=SecretStr(f"{generate_key()},{good}"))
    with pytest.raises(SecretKeyError):
        rotate_keys(settings, database.session)
    with database.session() as session:
        after = sorted(r.client_secret_encrypted for r in session.query(HaloConnection))
    assert after == before


def test_parse_keys_ignores_blanks_and_comments() -> None:
    assert parse_keys("# c\n a ,b\n\n") == ["a", "b"]
