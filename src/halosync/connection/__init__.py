"""A workspace's HaloPSA connection: save, test, show, reset, and a client built from it."""

from __future__ import annotations

from halosync.connection.probe import TestOutcome, probe_connection
from halosync.connection.service import ConnectionInput, ConnectionService, ConnectionView

__all__ = [
    "ConnectionInput",
    "ConnectionService",
    "ConnectionView",
    "TestOutcome",
    "probe_connection",
]
