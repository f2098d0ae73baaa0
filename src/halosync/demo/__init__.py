"""The demo: the bundled simulator, sample vendor data and the whole journey on SQLite."""
