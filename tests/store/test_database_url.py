"""The one SQLite URL rule: the file ``sqlite_file`` names is the file SQLite opens, and a
path's URL (``sqlite_url``) names that path whatever characters it holds."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from halosync.database_url import sqlite_creates_file, sqlite_file, sqlite_url
from halosync.errors import ValidationFailedError
from halosync.ops.backup import sqlite_path
from halosync.store.database import Database, DatabaseFolderMissingError
from tests.cli_inprocess import run_cli

_SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1).filter(
    lambda segment: segment not in (".", "..")
)


@given(st.lists(_SEGMENT, min_size=1, max_size=4))
def test_a_paths_url_names_that_path(segments: list[str]) -> None:
    path = Path("/srv", *segments)
    assert sqlite_file(sqlite_url(path)) == path


def test_a_relative_paths_url_names_it_from_the_working_directory() -> None:
    assert sqlite_file(sqlite_url(Path("data/h.db"))) == Path.cwd() / "data" / "h.db"


# Each form: the URL (given the test's folder) and the file SQLite opens there (None: none).
FORMS: dict[str, tuple[Callable[[Path], str], Callable[[Path], Path | None]]] = {
    "relative": (lambda _: "sqlite:///rel.db", lambda base: base / "rel.db"),
    "absolute": (lambda base: f"sqlite:///{base}/abs.db", lambda base: base / "abs.db"),
    "odd folder": (
        lambda base: sqlite_url(base / "a?b %20#c" / "h.db"),
        lambda base: base / "a?b %20#c" / "h.db",
    ),
    "uri relative": (lambda _: "sqlite:///file:uri.db?uri=true", lambda base: base / "uri.db"),
    "uri escaped": (
        lambda base: f"sqlite:///file:{base}/u%2520v.db?uri=true",
        lambda base: base / "u v.db",
    ),
    "uri authority": (
        lambda base: f"sqlite:///file://{base}/w.db?uri=true&mode=rwc",
        lambda base: base / "w.db",
    ),
    "uri memory": (lambda _: "sqlite:///file:mem1?mode=memory&uri=true", lambda _: None),
    "uri :memory:": (lambda _: "sqlite:///file::memory:?uri=true", lambda _: None),
    "empty": (lambda _: "sqlite://", lambda _: None),
    ":memory:": (lambda _: "sqlite:///:memory:", lambda _: None),
    "file: without uri": (lambda _: "sqlite:///file:plain.db", lambda base: base / "file:plain.db"),
    "uri, plain name": (
        lambda _: "sqlite:///q.db?uri=true&cache=private",
        lambda base: base / "q.db?cache=private",
    ),
}


@pytest.mark.parametrize("form", FORMS)
def test_the_file_named_is_the_file_sqlite_opens(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a?b %20#c").mkdir()
    make_url, expected = FORMS[form]
    url = make_url(tmp_path)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
    finally:
        engine.dispose()
    made = {Path(folder, name) for folder, _, names in os.walk(tmp_path) for name in names}
    assert sqlite_file(url) == expected(tmp_path)
    assert made == ({expected(tmp_path)} if expected(tmp_path) else set())


def test_other_databases_name_no_file() -> None:
    assert sqlite_file("postgresql+psycopg://u:p@db/halosync") is None


def test_read_only_and_read_write_uris_never_create_the_file() -> None:
    assert not sqlite_creates_file("sqlite:///file:/srv/h.db?mode=ro&uri=true")
    assert not sqlite_creates_file("sqlite:///file:/srv/h.db?uri=true&mode=rw")
    assert sqlite_creates_file("sqlite:///file:/srv/h.db?uri=true&mode=rwc")
    assert sqlite_creates_file("sqlite:////srv/h.db")


def test_a_data_dir_whose_name_holds_url_characters_keeps_its_database(tmp_path: Path) -> None:
    # Before, "sqlite:///<data dir>/halosync.db" cut the path at the "?" (a database in
    # .../backup) and decoded "%41" to "A": the database went elsewhere, or nowhere.
    data_dir = tmp_path / "backup?2026 %41"
    data_dir.mkdir()
    code, _, err = run_cli({"HALOSYNC_DATA_DIR": str(data_dir)}, "workspace", "create", "acme")
    assert code == 0, err
    assert {"halosync.db", "secret.key"} <= {path.name for path in data_dir.iterdir()}
    assert sorted(path.name for path in tmp_path.iterdir()) == [data_dir.name]


def test_an_in_memory_uri_is_neither_backed_up_nor_shared() -> None:
    url = "sqlite:///file::memory:?uri=true"
    with pytest.raises(ValidationFailedError, match="not a SQLite database file"):
        sqlite_path(url)
    database = Database(url)
    try:
        assert not database.shared_by_processes
    finally:
        database.dispose()


def test_a_uri_database_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseFolderMissingError):
        Database(f"sqlite:///file:{tmp_path}/missing/h.db?uri=true")
