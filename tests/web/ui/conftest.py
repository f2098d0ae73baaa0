"""Fixtures for the web UI tests: a running world and logged-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.ui.world import World, build_template, running_world


@pytest.fixture(scope="session")
def ui_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated database with workspaces, users and vendor data, built once."""
    folder = tmp_path_factory.mktemp("ui-template")
    build_template(folder)
    return folder


@pytest.fixture
def world(tmp_path: Path, ui_template: Path) -> Iterator[World]:
    """A fresh copy of the template with its own app, simulator and job consumer."""
    with running_world(tmp_path, ui_template) as built:
        yield built
