"""Encryption of secrets at rest (Fernet / MultiFernet) and key rotation.

Keys come from ``HALOSYNC_SECRET_KEYS`` (comma-separated; the first encrypts, all decrypt)
or, when that is unset, from a key file created on first use in the data directory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.errors import HalosyncError
from halosync.files import create_private_file_with, explained, replace_private_file
from halosync.logging import get_logger, register_secret
from halosync.settings import Settings
from halosync.store.models import HaloConnection

KEY_FILE_NAME = "secret.key"
_KEY_FILE = "the encryption key file"

log = get_logger(__name__)

_SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class KeyRotation:
    """What ``halosync keys rotate`` did."""

    secrets: int
    key_source: str
    new_key: bool


class SecretKeyError(HalosyncError):
    """The configured keys are unusable or cannot decrypt a stored secret."""


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(text: str) -> list[str]:
    """Split a comma- or newline-separated key list, dropping blanks and comments."""
    keys: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        keys.extend(key.strip() for key in line.split(",") if key.strip())
    return keys


def _fernets(keys: Sequence[str], origin: str) -> list[Fernet]:
    if not keys:
        raise SecretKeyError(f"No encryption key found in {origin}.", fix=_FIX_KEYS)
    fernets: list[Fernet] = []
    for position, key in enumerate(keys, start=1):
        register_secret(key, keep=True)
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise SecretKeyError(
                f"Encryption key #{position} in {origin} is not a valid Fernet key.",
                fix=_FIX_KEYS,
            ) from None
    return fernets


_FIX_KEYS = "Create one with `halosync keys generate` (32 url-safe base64-encoded bytes)."


def key_file_path(settings: Settings) -> Path:
    """Where the default key file lives: ``<data_dir>/secret.key`` (nothing is created)."""
    return settings.data_dir / KEY_FILE_NAME


def _key_file_text(keys: Sequence[str]) -> str:
    header = "# halosync secret keys: the first encrypts, all decrypt.\n"
    return header + "".join(f"{key}\n" for key in keys)


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    with explained(path, _KEY_FILE):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        replace_private_file(path, _key_file_text(keys))


def _make_key_file(path: Path) -> bool:
    """Make the key file with a new key unless it exists; whether this call made it. A
    process starting at the same moment may make it first: then its key is everyone's."""
    if path.exists():
        return False
    made = create_private_file_with(path, _key_file_text([generate_key()]))
    if made:
        log.info("created secret key file", path=str(path))
    return made


def create_key_file(settings: Settings) -> Path | None:
    """Make the data directory's key file now, unless the keys come from
    ``HALOSYNC_SECRET_KEYS`` or it exists; its path when this call made it.

    For a database just created (no secret in it yet), so that its first start can say
    where the key is instead of the first secret making it unannounced.
    """
    if settings.secret_keys is not None:
        return None
    path = settings.ensure_data_dir() / KEY_FILE_NAME
    with explained(path, _KEY_FILE):
        return path if _make_key_file(path) else None


def _load_or_create_key_file(path: Path) -> list[str]:
    with explained(path, _KEY_FILE):
        _make_key_file(path)
        return parse_keys(path.read_text(encoding="ascii"))


def _no_key_file(path: Path) -> SecretKeyError:
    return SecretKeyError(
        f"A stored secret cannot be decrypted: there is no key file {path} on this host, and "
        "HALOSYNC_SECRET_KEYS is unset.",
        fix=f"Copy {KEY_FILE_NAME} from the host whose halosync stored the secret to {path} "
        "(every host needs the same keys), or set HALOSYNC_SECRET_KEYS to the same keys on "
        "every host; if the key is lost, set the secret again.",
        fixes={
            "api": "Ask the administrator to give this host the key the secret was encrypted "
            "with, or set the secret again (PUT /connection).",
            "ui": "Ask the administrator to give this host the key the secret was encrypted "
            "with, or enter the secret again in Manage Setup.",
        },
    )


class SecretBox:
    """Encrypts and decrypts secret text with the first of its keys first.

    From the data directory's key file (no ``HALOSYNC_SECRET_KEYS``), a box made before the
    file exists makes it with the first secret it encrypts (or reads the one another process
    made meanwhile); decrypting without it is refused by name. A host that shares the
    database but not the file (a worker on another machine) so never makes a key of its own.
    """

    def __init__(self, keys: Sequence[str], *, origin: str = "the given keys") -> None:
        self.keys = list(keys)
        self.origin = origin
        self._fernet: MultiFernet | None = MultiFernet(_fernets(self.keys, origin))
        self._key_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """Keys from ``HALOSYNC_SECRET_KEYS`` or else the data dir's key file (made by the
        first secret encrypted, once)."""
        if settings.secret_keys is not None:
            return cls(
                parse_keys(settings.secret_keys.get_secret_value()),
                origin="HALOSYNC_SECRET_KEYS",
            )
        path = settings.ensure_data_dir() / KEY_FILE_NAME
        with explained(path, _KEY_FILE):
            if path.exists():
                return cls(parse_keys(path.read_text(encoding="ascii")), origin=str(path))
        box = cls.__new__(cls)
        box.keys, box.origin, box._fernet, box._key_file = [], str(path), None, path
        return box

    def _keys(self, *, make: bool) -> MultiFernet:
        if self._fernet is not None:
            return self._fernet
        assert self._key_file is not None, "a box without keys is one of a key file"
        path = self._key_file
        with explained(path, _KEY_FILE):
            if make:
                _make_key_file(path)
            elif not path.exists():
                raise _no_key_file(path)
            keys = parse_keys(path.read_text(encoding="ascii"))
        fernet = MultiFernet(_fernets(keys, str(path)))
        self.keys, self._fernet = keys, fernet
        return fernet

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext`` with the first key."""
        register_secret(plaintext)
        return self._keys(make=True).encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt text made by :meth:`encrypt` with any of the keys."""
        fernet = self._keys(make=False)
        try:
            plaintext = fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"A stored secret cannot be decrypted with the keys from {self.origin}.",
                fix=(
                    "Restore the key it was encrypted with (keep old keys after the new one "
                    "until `halosync keys rotate` has run), or set the secret again."
                ),
                fixes={
                    "api": "Ask the administrator to restore the key it was encrypted with, "
                    "or set the secret again (PUT /connection).",
                    "ui": "Ask the administrator to restore the key it was encrypted with, "
                    "or enter the secret again in Manage Setup.",
                },
            ) from None
        register_secret(plaintext)
        return plaintext

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt ``ciphertext`` with the first key."""
        fernet = self._keys(make=False)
        try:
            return fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretKeyError(
                f"A stored secret cannot be decrypted with the keys from {self.origin}.",
                fix="Add the key it was encrypted with after the new one, then rotate again.",
            ) from None


def rotate_stored_secrets(session: Session, box: SecretBox) -> int:
    """Re-encrypt every stored secret with ``box``'s first key; returns how many.

    Runs inside the caller's transaction, so either every secret is rotated or none is.
    """
    connections = session.scalars(select(HaloConnection).with_for_update()).all()
    for connection in connections:
        connection.client_secret_encrypted = box.rotate(connection.client_secret_encrypted)
    session.flush()
    return len(connections)


def rotate_keys(settings: Settings, session_factory: _SessionFactory) -> KeyRotation:
    """Make the first key the only one in use: re-encrypt every secret in one transaction.

    With ``HALOSYNC_SECRET_KEYS`` the operator has already put the new key first. With the
    key file, a new key is generated and written first (old keys kept) before re-encrypting,
    and the old keys are dropped from the file only after the transaction committed, so a
    crash at any point leaves every secret readable.
    """
    if settings.secret_keys is not None:
        box = SecretBox.from_settings(settings)
        with session_factory() as session:
            count = rotate_stored_secrets(session, box)
        return KeyRotation(secrets=count, key_source="HALOSYNC_SECRET_KEYS", new_key=False)
    path = settings.ensure_data_dir() / KEY_FILE_NAME
    if not path.exists():
        # A first key made here could read none of the secrets already stored.
        with session_factory() as session:
            if session.scalar(select(HaloConnection.id).limit(1)) is not None:
                raise _no_key_file(path)
    old_keys = _load_or_create_key_file(path)
    new_key = generate_key()
    register_secret(new_key, keep=True)
    write_key_file(path, [new_key, *old_keys])
    box = SecretBox([new_key, *old_keys], origin=str(path))
    with session_factory() as session:
        count = rotate_stored_secrets(session, box)
    write_key_file(path, [new_key])
    log.info("rotated secret key file", path=str(path), secrets=count)
    return KeyRotation(secrets=count, key_source=str(path), new_key=True)
