"""``python -m halosync`` runs the command line."""

from __future__ import annotations

from halosync.cli import main

main()
