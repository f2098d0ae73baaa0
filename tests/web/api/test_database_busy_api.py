"""A database too busy to answer in time is a 503 with Retry-After (try again), never a 400
(the request was fine) or a 500: a SQLite database another process keeps locked, a pool
whose connections are all taken."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from halosync.store.database import DatabaseUnavailableError
from tests.busy_database import locked
from tests.web.api.conftest import USAGE, Api


def test_a_locked_database_is_a_503_with_retry_after(api: Api) -> None:
    with locked(api.database):
        answers = [
            api.patch("settings", json={"cooldown_minutes": 5}),
            api.post("usage", json=USAGE),  # written while read, outside session()'s with
        ]
    for busy in answers:
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "10"
        assert busy.json()["detail"].startswith("The database stayed locked by another halosync")
    assert api.patch("settings", json={"cooldown_minutes": 5}).status_code == 200


def test_a_pool_with_every_connection_taken_is_database_unavailable(api: Api) -> None:
    pool: Any = api.database.engine.pool
    pool._timeout = 0.05  # not 30 s
    taken = [api.database.engine.raw_connection() for _ in range(pool.size() + pool._max_overflow)]
    try:
        with pytest.raises(DatabaseUnavailableError) as caught, api.database.session() as session:
            session.execute(text("SELECT 1"))
        assert caught.value.message == (
            "Every database connection of this halosync process stayed busy (QueuePool limit "
            "of size 5 overflow 10 reached, connection timed out, timeout 0.05); nothing of "
            "this step was saved."
        )
        busy = api.patch("settings", json={"cooldown_minutes": 5})
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "10"
    finally:
        for connection in taken:
            connection.close()
