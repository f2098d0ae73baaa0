"""Fixtures for the web UI tests: a running world and logged-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.ui.world import World, running_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh app, simulator and job consumer per test."""
    with running_world(tmp_path) as built:
        yield built
