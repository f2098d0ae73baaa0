"""Static files of the UI: vendored htmx (2.x, 0BSD licence), the style sheet, a little JS."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent
