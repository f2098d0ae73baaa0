"""A data directory, database or key file this user may not write or read is one clear
error naming the path, who owns it and the chown that fixes it; never a traceback, never
"check that the database server is running". The doctor says the same.

The files are made by the test and then closed to the user halosync runs as: a read-only
mode when the tests run as an ordinary user, and, as root (whom no mode stops), halosync
runs as nobody through setpriv.
"""

from __future__ import annotations

import errno
import functools
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.files import file_access_error
from tests.cli_inprocess import run_cli


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder every user may enter (pytest's own tmp_path is its owner's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="halosync-unusable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def _as_another_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no user that file modes stop")
    command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if not _nobody_runs_this_python(tuple(command)):
        # An interpreter under root's 0700 home (pyenv's) cannot load its libpython as
        # nobody, unless the system has one of that version (Debian's 3.11 here, which
        # then runs this venv's packages as well); halosync never even starts then.
        pytest.skip(
            f"nobody may not run {sys.executable} (its interpreter lies where only root may "
            "read): use a Python installed for every user to run these tests as root"
        )
    return command


@functools.cache
def _nobody_runs_this_python(command: tuple[str, ...]) -> bool:
    done = subprocess.run(
        [*command, sys.executable, "-c", "import halosync.cli"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def _halosync(base: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base),
        "HALOSYNC_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [*_as_another_user(), sys.executable, "-m", "halosync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_clear_error(done: subprocess.CompletedProcess[str], path: Path) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert str(path) in done.stderr
    assert "chown" in done.stderr
    return done.stderr


def _installed(base: Path) -> Path:
    """A data directory with a database and a key, as its owner left them."""
    data_dir = base / "data"
    data_dir.mkdir(mode=0o700)
    code, _, err = run_cli({"HALOSYNC_DATA_DIR": str(data_dir)}, "workspace", "create", "acme")
    assert code == 0, err
    data_dir.chmod(0o755)
    return data_dir


def test_a_data_dir_this_user_may_not_write(base: Path) -> None:
    data_dir = base / "data"
    data_dir.mkdir(mode=0o555)
    data_dir.chmod(0o555)
    done = _halosync(base, data_dir, "workspace", "create", "acme")
    error = _one_clear_error(done, data_dir / "halosync.db")
    assert "permission denied" in error
    assert list(data_dir.iterdir()) == []


def test_a_database_this_user_may_not_write(base: Path) -> None:
    data_dir = _installed(base)
    (data_dir / "halosync.db").chmod(0o400)
    done = _halosync(base, data_dir, "workspace", "create", "beta")
    error = _one_clear_error(done, data_dir / "halosync.db")
    assert "server" not in error

    doctor = _halosync(base, data_dir, "doctor", "--json")
    checks = {check["name"]: check for check in json.loads(doctor.stdout)["checks"]}
    assert checks["files"]["status"] == "problem"
    assert str(data_dir / "halosync.db") in checks["files"]["detail"]
    assert "chown" in checks["files"]["fix"]


def test_a_key_file_this_user_may_not_read(base: Path) -> None:
    data_dir = _installed(base)
    key = data_dir / "secret.key"
    key.chmod(0o000)
    if _as_another_user():  # halosync runs as nobody: all but the key becomes nobody's
        for path in [data_dir, *data_dir.iterdir()]:
            if path != key:
                os.chown(path, 65534, 65534)
    done = _halosync(
        base, data_dir, "connection", "set", "--workspace", "acme",
        "--server", "https://acme.halopsa.com", "--client-id", "id", "--client-secret",
        "s3cret-value", "--no-test",
    )  # fmt: skip
    error = _one_clear_error(done, key)
    assert "encryption key file" in error
    assert "s3cret-value" not in error


@pytest.mark.parametrize(
    ("number", "said", "fix"),
    [
        (errno.ENOSPC, "the disk is full", "df -h /srv/halosync"),
        (errno.EROFS, "mounted read-only", "HALOSYNC_DATA_DIR"),
        (errno.EIO, "Input/output error", None),
    ],
)
def test_a_full_disk_or_a_read_only_file_system_is_said_so(
    number: int, said: str, fix: str | None
) -> None:
    path = Path("/srv/halosync/secret.key")
    error = file_access_error(path, "the key file", OSError(number, os.strerror(number)))
    assert error.message.startswith(f"Cannot write the key file {path}: ") or (
        error.message.startswith(f"Cannot use the key file {path}: ")
    )
    assert said in error.message
    assert (fix is None and error.fix is None) or (fix or "") in (error.fix or "")


def test_a_backup_into_a_folder_this_user_may_not_write(base: Path) -> None:
    data_dir = _installed(base)
    if _as_another_user():
        for path in [data_dir, *data_dir.iterdir()]:
            os.chown(path, 65534, 65534)
    closed = base / "backups"
    closed.mkdir(mode=0o555)
    closed.chmod(0o555)
    done = _halosync(base, data_dir, "db", "backup", str(closed / "halosync.db"))
    error = _one_clear_error(done, closed / "halosync.db")
    assert "the backup" in error
    assert list(closed.iterdir()) == []


def test_the_doctor_names_a_data_dir_this_user_may_not_write(base: Path) -> None:
    data_dir = base / "data"
    data_dir.mkdir(mode=0o555)
    data_dir.chmod(0o555)
    done = _halosync(base, data_dir, "doctor", "--json")
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["settings"]["status"] == "problem"
    assert f"The data directory {data_dir} cannot be written" in checks["settings"]["detail"]
    assert f"chown {_user_of(done)} {data_dir}" in checks["settings"]["fix"]


def _user_of(done: subprocess.CompletedProcess[str]) -> str:
    # The user the command ran as: nobody through setpriv, else this one.
    return "nobody" if "--reuid=65534" in done.args else getpass.getuser()


def test_a_queue_file_this_user_may_not_write(base: Path) -> None:
    data_dir = _installed(base)
    queue = data_dir / "jobs.db"
    queue.touch()
    queue.chmod(0o444)
    if _as_another_user():  # all but the queue file becomes nobody's
        for path in [data_dir, *data_dir.iterdir()]:
            if path != queue:
                os.chown(path, 65534, 65534)
    # `serve` would listen forever: `sync now` opens the same queue and stops.
    done = _halosync(base, data_dir, "sync", "now", "--workspace", "acme")
    error = _one_clear_error(done, queue)
    assert "embedded job queue file" in error
