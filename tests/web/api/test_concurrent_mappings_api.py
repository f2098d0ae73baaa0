"""Mapping requests at once on PostgreSQL: the one that waits gets the answer it would get
after the other, never a 500 from the unique constraint it ran into.

Each test holds one real transaction open with its write made (the first request), sends
the second through the API while it waits on that transaction's locks, then commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from halosync.mapping.service import (
    accept_suggestions,
    map_account,
    map_service,
    suggest_account_mappings,
)
from tests.web.api.conftest import Api

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_ready(tmp_path: Path, pg_schema_url: str) -> Iterator[Api]:
    """Connected on PostgreSQL, usage imported, Halo clients and items pulled."""
    api = Api(tmp_path, database_url=pg_schema_url)
    assert api.connect().status_code == 200
    api.import_usage()
    api.pull_customers()
    yield api
    api.queue.close()
    api.database.dispose()


def _blocked_by(api: Api, pid: int) -> bool:
    with api.database.engine.connect() as connection:
        waiting = connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": pid},
        )
    return bool(waiting)


def _second_while_first_open(
    api: Api, first: Callable[[Session], Any], second: Callable[[], httpx2.Response]
) -> httpx2.Response:
    """``second`` sent while ``first``'s transaction is open and written, answered after it
    commits."""
    with ThreadPoolExecutor(1) as pool:
        answer: Future[httpx2.Response]
        with api.database.session() as session:
            first(session)
            session.flush()
            pid = int(session.scalar(text("SELECT pg_backend_pid()")) or 0)
            answer = pool.submit(second)
            for _ in range(3000):  # until it waits on the first (at most a minute)
                if _blocked_by(api, pid) or _answered(answer):
                    break
            assert not answer.done(), answer.result().text
        return answer.result(timeout=60)


def _answered(answer: Future[httpx2.Response]) -> bool:
    """Whether ``answer`` came within a moment (returning as soon as it does)."""
    try:
        answer.exception(timeout=0.02)
    except TimeoutError:
        return False
    return True


def test_the_same_account_mapping_twice_at_once_is_200_both_times(pg_ready: Api) -> None:
    answer = _second_while_first_open(
        pg_ready,
        lambda session: map_account(session, pg_ready.acme, "A1", 1),
        lambda: pg_ready.put("mappings/accounts/A1", json={"halo_client_id": 1}),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["halo_client_id"] == 1


def test_two_accounts_to_one_client_at_once_the_second_is_a_422_naming_the_first(
    pg_ready: Api,
) -> None:
    answer = _second_while_first_open(
        pg_ready,
        lambda session: map_account(session, pg_ready.acme, "A1", 1),
        lambda: pg_ready.put("mappings/accounts/A2", json={"halo_client_id": 1}),
    )
    assert answer.status_code == 422, answer.text
    assert "is already mapped to account 'A1'" in answer.json()["detail"]
    rows = pg_ready.get("mappings/accounts").json()["items"]
    mapped = {r["account_ref"]: r["halo_client_id"] for r in rows}
    assert mapped == {"A1": 1, "A2": None, "T3": None}


def test_the_same_service_mapping_twice_at_once_is_200_both_times(pg_ready: Api) -> None:
    answer = _second_while_first_open(
        pg_ready,
        lambda session: map_service(session, pg_ready.acme, "MAIL", 1),
        lambda: pg_ready.put("mappings/services/MAIL", json={"halo_item_id": 1}),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["halo_item_id"] == 1


def test_accepting_suggestions_twice_at_once_keeps_the_first_and_says_so(pg_ready: Api) -> None:
    def first(session: Session) -> None:
        accept_suggestions(session, pg_ready.acme, suggest_account_mappings(session, pg_ready.acme))

    answer = _second_while_first_open(
        pg_ready, first, lambda: pg_ready.post("mappings/accounts/suggest", json={"accept": True})
    )
    assert answer.status_code == 200, answer.text
    notes = {item["account_ref"]: item["note"] for item in answer.json()["suggestions"]}
    assert notes["A1"] == "already mapped; kept"
