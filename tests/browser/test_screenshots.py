"""A test run writes its screenshots to a temporary folder, never into docs/ unless asked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (
    DOCS_SCREENSHOTS,
    REFRESH_SCREENSHOTS,
    screenshot_folder_for,
    shoot,
)


def _tracked_screenshots() -> dict[str, tuple[int, int]]:
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in DOCS_SCREENSHOTS.glob("*.png")
    }


@pytest.mark.browser
def test_screenshots_leave_docs_alone_unless_asked(page: Page, screenshot_folder: Path) -> None:
    if os.environ.get(REFRESH_SCREENSHOTS) == "1":
        pytest.skip("this run refreshes docs/screenshots on purpose")
    before = _tracked_screenshots()
    page.set_content("<h1>A screen</h1>")
    shoot(page, "00-a-screen")
    assert (screenshot_folder / "00-a-screen.png").stat().st_size > 0
    assert screenshot_folder != DOCS_SCREENSHOTS
    assert _tracked_screenshots() == before


def test_refreshing_the_docs_screenshots_is_asked_for_by_a_variable(tmp_path: Path) -> None:
    assert screenshot_folder_for({}, tmp_path) == tmp_path
    assert screenshot_folder_for({REFRESH_SCREENSHOTS: "0"}, tmp_path) == tmp_path
    assert screenshot_folder_for({REFRESH_SCREENSHOTS: "1"}, tmp_path) == DOCS_SCREENSHOTS
