"""Skips do not flood the log: one entry per run per reason naming every account and
service, a WARNING only when the set changes (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from halosync.domain.skips import (
    ACCOUNT_UNMAPPED,
    SERVICE_UNMAPPED,
    summarise_skips,
)
from halosync.store.models import LogEntry, RunResult
from tests.sync.world import World, make_world, usage_document

ACCOUNTS = [
    {"ref": f"U{n}", "name": f"Unmapped {n}", "status": "active", "billed": True}
    for n in range(1, 4)
] + [{"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True}]
SUBS = [
    {"account_ref": account["ref"], "service_ref": service, "quantity": 2}
    for account in ACCOUNTS
    for service in ("MAIL", "BKP")
]


def _entries(world: World) -> list[LogEntry]:
    with world.database.session() as session:
        return list(
            session.scalars(
                select(LogEntry)
                .where(LogEntry.title.in_(("Accounts not mapped", "Services not mapped")))
                .order_by(LogEntry.id)
            )
        )


def _pair_warnings(world: World) -> int:
    with world.database.session() as session:
        return len(
            session.scalars(select(LogEntry).where(LogEntry.title == "Subscription skipped")).all()
        )


def test_one_entry_per_reason_and_a_warning_only_when_the_set_changes(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.import_usage(usage_document(ACCOUNTS, SUBS))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_account("A1", 1)
    world.map_service("MAIL", 1)  # BKP stays unmapped

    first = asyncio.run(world.usage())
    assert first.status == "succeeded", first.error
    entries = _entries(world)
    assert [(e.title, e.level) for e in entries] == [
        ("Accounts not mapped", "WARNING"),
        ("Services not mapped", "WARNING"),
    ]
    assert entries[0].details == (
        "6 subscription(s) of 3 account(s) not mapped to a HaloPSA client are not billed; map "
        "them under Account mapping. U1: BKP, MAIL; U2: BKP, MAIL; U3: BKP, MAIL."
    )
    assert entries[1].details == (
        "1 subscription(s) of 1 service(s) not mapped to a HaloPSA item are not billed; map "
        "them under Service mapping. BKP: A1."
    )
    assert _pair_warnings(world) == 0
    with world.database.session() as session:  # the per-pair detail stays in the results
        skipped = session.scalars(
            select(RunResult).where(RunResult.run_id == first.run_id, RunResult.action == "skip")
        ).all()
    assert len(skipped) == 7

    second = asyncio.run(world.usage())
    assert second.status == "succeeded"
    latest = _entries(world)[2:]
    assert [(e.title, e.level) for e in latest] == [
        ("Accounts not mapped", "INFO"),
        ("Services not mapped", "INFO"),
    ]
    assert latest[0].details is not None
    assert latest[0].details.endswith("U3: BKP, MAIL. Unchanged since the last sync.")

    world.map_account("U1", 2)  # the set changes: a new WARNING
    asyncio.run(world.usage())
    changed = _entries(world)[4]
    assert (changed.title, changed.level) == ("Accounts not mapped", "WARNING")
    assert changed.details is not None
    assert "4 subscription(s) of 2 account(s)" in changed.details


pairs = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C"]),
        st.sampled_from(["S1", "S2"]),
        st.sampled_from(["account", "service", "other"]),
    ),
    max_size=20,
)


@given(pairs)
def test_every_skip_is_summarised_once_or_left_to_log_alone(
    rows: list[tuple[str, str, str]],
) -> None:
    reasons = {
        "account": f"account 'x' {ACCOUNT_UNMAPPED}",
        "service": f"service 'y' {SERVICE_UNMAPPED}",
        "other": "HaloPSA client 'z' is inactive",
    }
    skipped = [(account, service, reasons[kind]) for account, service, kind in rows]
    summaries, others = summarise_skips(skipped)
    summarised = {pair for summary in summaries for pair in summary.pairs}
    assert {(a, s) for a, s, kind in rows if kind != "other"} == summarised
    assert [skipped[i] for i in others] == [row for row in skipped if row[2] == reasons["other"]]
    for summary in summaries:  # the same set reads the same, whatever the order
        again, _ = summarise_skips(reversed(skipped))
        assert summary.details() in [s.details() for s in again]
