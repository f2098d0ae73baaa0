"""Skips do not flood the log: one entry per run per reason naming every account and
service, a WARNING only when the set changes (issue 16)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from halosync.domain.models import SkipKind
from halosync.domain.skips import FRACTIONS_TITLE, MAX_NAMED_SKIPS, SkipTally
from halosync.store.models import LogEntry, RunResult
from halosync.sync.activity import DETAILS_PREVIEW_CHARS
from tests.cli_inprocess import home_env, run_cli
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


def _titled(world: World, title: str) -> list[LogEntry]:
    with world.database.session() as session:
        return list(
            session.scalars(select(LogEntry).where(LogEntry.title == title).order_by(LogEntry.id))
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
    kinds: dict[str, SkipKind | None] = {
        "account": "account_unmapped",
        "service": "service_unmapped",
        "other": None,
    }
    tally, again = SkipTally(), SkipTally()
    taken = [
        tally.add("skip", "WARNING", kinds[kind], account, service, "reason")
        for account, service, kind in rows
    ]
    assert taken == [kind != "other" for _a, _s, kind in rows]
    for account, service, kind in reversed(rows):
        again.add("skip", "WARNING", kinds[kind], account, service, "reason")
    summaries = tally.summaries()
    assert [s.title for s in summaries] == [
        title
        for title, kind in (("Accounts not mapped", "account"), ("Services not mapped", "service"))
        if any(row[2] == kind for row in rows)
    ]
    for summary in summaries:  # every pair named
        assert summary.complete
        kind = "account" if summary.title == "Accounts not mapped" else "service"
        groups = dict(part.split(": ") for part in summary.details.split(". ")[1][:-1].split("; "))
        for account, service, _kind in (row for row in rows if row[2] == kind):
            key, item = (account, service) if kind == "account" else (service, account)
            assert item in groups[key].split(", ")
    # The same set reads the same, whatever the order.
    assert summaries == again.summaries()


FRACTIONS = [
    {"ref": f"F{n}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
    for n in range(1, 4)
]


def test_counts_without_a_rounding_rule_are_one_entry_per_run(tmp_path: Path) -> None:
    """A fractional count bound for a licence with no rounding rule is summarised as the
    accounts not mapped are: one entry per run naming the pairs and the fix, a WARNING
    only when the set changes; each pair keeps its own reason and fix in the results."""
    world = make_world(tmp_path)
    subs: list[dict[str, Any]] = [
        {"account_ref": "F1", "service_ref": "MAIL", "quantity": "2.5"},
        {"account_ref": "F2", "service_ref": "MAIL", "quantity": "3.5"},
        {"account_ref": "F3", "service_ref": "MAIL", "quantity": "1.25"},
        {"account_ref": "F3", "service_ref": "BKP", "quantity": "0.5"},
        {"account_ref": "F1", "service_ref": "BKP", "quantity": 4},
    ]
    world.import_usage(usage_document(FRACTIONS, subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    for n in range(1, 4):
        world.map_account(f"F{n}", n)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)

    first = asyncio.run(world.usage())
    assert first.status == "succeeded", first.error
    assert (first.counts["skipped"], first.counts["created"]) == (4, 1)
    assert _pair_warnings(world) == 0
    entries = _titled(world, FRACTIONS_TITLE)
    assert [(e.level, e.details) for e in entries] == [
        (
            "WARNING",
            "4 subscription(s) of 2 service(s) have a count that is not a whole number, and "
            "a HaloPSA licence count must be, so nothing was written for them; set a rounding "
            "rule for each service under Quantity rules, e.g. halosync rules set --service "
            "BKP --rounding up. BKP: F3; MAIL: F1, F2, F3.",
        )
    ]
    reasons = {(c.account_ref, c.service_ref): c.reason for c in first.changes}
    assert reasons[("F2", "MAIL")].startswith("quantity 3.5 is not a whole number")
    assert reasons[("F2", "MAIL")].endswith("halosync rules set --service MAIL --rounding up")

    asyncio.run(world.usage())
    again = _titled(world, FRACTIONS_TITLE)[1:]
    assert [(e.level, e.details) for e in again] == [
        ("INFO", f"{entries[0].details} Unchanged since the last sync.")
    ]
    assert _pair_warnings(world) == 0


def test_a_summary_names_a_few_of_many_and_warns_every_run() -> None:
    """Past MAX_NAMED_SKIPS accounts a summary only counts, so it cannot tell an unchanged
    set from another of the same size: it warns each run."""
    summary = SkipTally()
    for n in range(MAX_NAMED_SKIPS + 5):
        summary.add("skip", "WARNING", "fractional", f"A{n:02}", "MAIL", "quantity 1.5 ...")
    (only,) = summary.summaries()
    assert not only.complete
    assert only.details.endswith(
        "MAIL: " + ", ".join(f"A{n:02}" for n in range(MAX_NAMED_SKIPS)) + " and 5 more."
    )


def test_halosync_logs_folds_a_summary_naming_many_accounts(tmp_path: Path) -> None:
    """At 9,678 unmapped accounts the summary is 177,592 characters: ``halosync logs``
    shows its start, folded as on the Logs page, and ``--full`` (or ``--json``) all of it."""
    many = [
        {"ref": f"U{n}", "name": f"Unmapped {n}", "status": "active", "billed": True}
        for n in range(1, 301)
    ]
    subs = [{"account_ref": a["ref"], "service_ref": "MAIL", "quantity": 2} for a in many]
    world = make_world(tmp_path)
    world.import_usage(usage_document(many, subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_service("MAIL", 1)
    assert asyncio.run(world.usage()).status == "succeeded"
    (entry,) = _titled(world, "Accounts not mapped")
    assert entry.details is not None
    size = len(entry.details)
    assert size > 3_000

    env = home_env(tmp_path)
    code, out, _ = run_cli(env, "logs", "--level", "warning")
    assert code == 0
    (line,) = [text for text in out.splitlines() if "not mapped to a HaloPSA client" in text]
    assert line.strip().startswith(
        "300 subscription(s) of 300 account(s) not mapped to a HaloPSA client"
    )
    assert line.endswith(f"\u2026 [{size:,} characters; --full or --json shows them whole]")
    assert len(line) < DETAILS_PREVIEW_CHARS + 100
    assert "U99: MAIL" not in out

    code, out, _ = run_cli(env, "logs", "--level", "warning", "--full")
    assert code == 0
    assert entry.details in out
    code, out, _ = run_cli(env, "logs", "--level", "warning", "--json")
    assert [e["details"] for e in json.loads(out)["entries"]] == [entry.details]
