from __future__ import annotations

from pathlib import Path

import pytest

from halosync.settings import Settings


def test_default_database_is_a_file_in_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    settings = Settings(data_dir=tmp_path / "d")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'd' / 'halosync.db'}"
    assert (tmp_path / "d").is_dir()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALOSYNC_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("HALOSYNC_ALLOW_PRIVATE_NETWORKS", "true")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert settings.allow_private_networks is True


def test_a_relative_or_home_data_dir_is_one_absolute_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HALOSYNC_DATA_DIR", "data")
    assert Settings().data_dir == tmp_path / "data"
    monkeypatch.setenv("HALOSYNC_DATA_DIR", "~/halosync")
    assert Settings().data_dir == tmp_path / "home" / "halosync"
