"""halosync is Apache-2.0; every third-party file it ships or serves is named with its licence."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from halosync.web.api_docs import SWAGGER_FILES, swagger_assets_dir
from halosync.web.ui.static import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
NOTICES = (ROOT / "THIRD_PARTY_NOTICES.md").read_text(encoding="utf-8")
# The UI's own files; everything else in the static folder is vendored.
OWN_STATIC = {"__init__.py", "halosync.css", "halosync.js"}


def test_licence_file_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_package_metadata_declares_apache_2() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    metadata = importlib.metadata.metadata("halosync")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert {"LICENSE", "THIRD_PARTY_NOTICES.md"} <= set(metadata.get_all("License-File") or [])


def test_every_vendored_static_file_is_in_the_notices() -> None:
    vendored = sorted(
        p.name
        for p in STATIC_DIR.iterdir()
        if p.is_file() and p.name not in OWN_STATIC and not p.name.endswith(".pyc")
    )
    assert vendored, "htmx is vendored"
    for name in vendored:
        assert f"src/halosync/web/ui/static/{name}" in NOTICES, f"{name} has no notice"


def test_notices_name_the_vendored_htmx_version() -> None:
    script = (STATIC_DIR / "htmx.min.js").read_text(encoding="utf-8")
    version = re.search(r'version:"(\d+\.\d+\.\d+)"', script)
    assert version is not None
    assert f"### htmx {version.group(1)}" in NOTICES
    assert "Zero-Clause BSD" in NOTICES


def test_notices_name_the_served_swagger_ui_version() -> None:
    bundle = (swagger_assets_dir() / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    version = re.search(r'PACKAGE_VERSION:"(\d+\.\d+\.\d+)"', bundle)
    assert version is not None
    assert f"### Swagger UI {version.group(1)}" in NOTICES
    for name in SWAGGER_FILES:
        assert f"`{name}`" in NOTICES
