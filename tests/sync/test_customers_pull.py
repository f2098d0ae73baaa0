"""Sync Organizations keeps Halo's records on disk as it reads them and writes the cache a
page at a time, so its memory does not grow with the number of clients (issue 15)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import halosync.sync.customers as customers
from halosync.store.models import HaloClient
from tests.sync.world import make_world, seed

CLIENTS = 23
PAGE = 5


def _cache(world: Any) -> dict[int, tuple[str, bool, bool]]:
    with world.database.session() as session:
        return {
            row.halo_id: (row.name, row.inactive, row.gone)
            for row in session.scalars(
                select(HaloClient).where(HaloClient.workspace_id == world.workspace_id)
            )
        }


def test_the_pull_writes_the_cache_a_page_at_a_time_and_marks_what_halo_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, document=seed(CLIENTS))
    monkeypatch.setattr(customers, "_PAGE", PAGE)
    looked_up: list[int] = []
    original = customers.cached_rows  # type: ignore[attr-defined]

    def counted(session: Any, model: Any, workspace_id: int, ids: Collection[int]) -> Any:
        looked_up.append(len(ids))
        return original(session, model, workspace_id, ids)

    monkeypatch.setattr(customers, "cached_rows", counted)
    first = asyncio.run(world.customers())
    assert first.status == "succeeded", first.error
    assert first.details["clients"] == {
        "created": CLIENTS,
        "updated": 0,
        "unchanged": 0,
        "gone": 0,
        "failed": 0,
    }
    assert max(looked_up) <= PAGE
    assert sum(looked_up) == CLIENTS + 3  # the clients and the three items
    assert len(_cache(world)) == CLIENTS

    world.sim.state.delete_by_hand("Client", 4)
    world.sim.state.delete_by_hand("Client", 17)
    world.sim.state.edit_by_hand("Client", 9, name="Client Nine Ltd")
    second = asyncio.run(world.customers())
    assert second.status == "succeeded", second.error
    assert second.details["clients"] == {
        "created": 0,
        "updated": 1,
        "unchanged": CLIENTS - 3,
        "gone": 2,
        "failed": 0,
    }
    cache = _cache(world)
    assert cache[4][2]  # kept, marked gone
    assert cache[17][2]
    assert cache[9] == ("Client Nine Ltd", False, False)
    assert not any(gone for halo_id, (_, _, gone) in cache.items() if halo_id not in (4, 17))
