"""halosync's Alembic migrations (``versions/``), and the newest of them known without Alembic.

``SCHEMA_HEAD`` lets every start-up see that the schema is current with one query and
without importing Alembic (``Database.migrate``). A new migration updates it;
``tests/store/test_migrations.py`` fails until it names Alembic's head.
"""

from __future__ import annotations

SCHEMA_HEAD = "0021"
"""The revision of the newest migration in ``versions/``."""
