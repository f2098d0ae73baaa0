"""The accounts' mapping columns stay what their mapping, Halo client and recurring invoice
say, after every kind of write: map, remap, unmap, accept suggestions, Sync Organizations
(a client renamed, made inactive, gone or new; an invoice gone), a target switch, a reset.

The grid filters and sorts on those columns (store/account_grid.py), so a write that
forgot them would put accounts under the wrong status. The truth here is worked out in
Python from the tables, not with the grid's SQL.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from halosync.connection.service import ConnectionService
from halosync.domain.matching import Suggestion
from halosync.errors import HalosyncError
from halosync.mapping.service import accept_suggestions, map_account, unmap_account
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    Workspace,
)
from halosync.sync.workspace_settings import SyncSettingsChange, update_sync_settings
from tests.sync.world import World, make_world, seed, usage_document

ACCOUNTS = [f"A{n}" for n in range(1, 6)]
CLIENTS = 4  # Halo clients 1..4, each with one recurring invoice (-n in the seed)


def _stored_and_true(world: World) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    with world.database.session() as session:
        target = session.scalar(select(Workspace.target).where(Workspace.id == world.workspace_id))
        accounts = session.execute(
            select(
                Account.id,
                Account.ref,
                Account.mapping_status,
                Account.mapped_client_id,
                Account.mapped_client_name,
                Account.mapped_client_status,
            ).where(Account.workspace_id == world.workspace_id)
        ).all()
        mappings = {
            m.account_id: m
            for m in session.scalars(
                select(AccountMapping).where(AccountMapping.workspace_id == world.workspace_id)
            )
        }
        clients = {
            c.halo_id: c
            for c in session.scalars(
                select(HaloClient).where(HaloClient.workspace_id == world.workspace_id)
            )
        }
        invoices = {
            i.halo_id: i
            for i in session.scalars(
                select(HaloRecurringInvoice).where(
                    HaloRecurringInvoice.workspace_id == world.workspace_id
                )
            )
        }
    stored: dict[str, tuple[Any, ...]] = {}
    true: dict[str, tuple[Any, ...]] = {}
    for account_id, ref, *columns in accounts:
        stored[ref] = tuple(columns)
        mapping = mappings.get(account_id)
        if mapping is None:
            true[ref] = ("unmapped", None, None, None)
            continue
        client = clients.get(mapping.halo_client_id)
        if client is None:
            true[ref] = ("response_error", mapping.halo_client_id, None, None)
            continue
        invoice = invoices.get(mapping.recurring_invoice_id or 0)
        status = (
            "required"
            if target == "invoice_line" and (invoice is None or invoice.gone)
            else "mapped"
        )
        client_status = "gone" if client.gone else "inactive" if client.inactive else "active"
        true[ref] = (status, client.halo_id, client.name, client_status)
    return stored, true


def _pull(world: World) -> None:
    report = asyncio.run(world.customers())
    assert report.status == "succeeded", report.error


def _apply(world: World, step: tuple[Any, ...]) -> None:
    kind, *args = step
    sim = world.sim.state
    try:
        if kind == "map":
            ref, client = args
            with world.database.session() as session:
                map_account(session, world.workspace_id, ref, client)
        elif kind == "unmap":
            with world.database.session() as session:
                unmap_account(session, world.workspace_id, args[0])
        elif kind == "accept":
            wanted = [Suggestion(ref, client, 90, ref, "", False) for ref, client in args[0]]
            with world.database.session() as session:
                accept_suggestions(session, world.workspace_id, wanted)
        elif kind == "target":
            change = SyncSettingsChange(target=args[0])
            update_sync_settings(world.database, world.workspace_id, change, confirmed=True)
        elif kind == "reset":
            ConnectionService(world.database, world.settings, box=world.box).reset("acme")
            world.connect(world.base_url)
        elif kind == "pull":
            _pull(world)
        else:  # something changed in Halo, then Sync Organizations
            client = args[0]
            if sim.record("Client", client) is None:
                return
            if kind == "rename":
                sim.edit_by_hand(
                    "Client", client, name=f"Renamed {client} {len(sim.records('Client'))}"
                )
            elif kind == "inactive":
                sim.edit_by_hand("Client", client, inactive=True)
            elif kind == "delete client":
                sim.delete_by_hand("Client", client)
            elif kind == "delete invoice":
                for invoice in sim.records("RecurringInvoice"):
                    if invoice.get("client_id") == client:
                        sim.delete_by_hand("RecurringInvoice", int(invoice["id"]))
            _pull(world)
    except HalosyncError:
        pass  # refused: nothing was written, which must hold too


_ref = st.sampled_from(ACCOUNTS)
_client = st.integers(1, CLIENTS + 1)  # 5 is never in Halo: refused
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("map"), _ref, _client),
        st.tuples(st.just("unmap"), _ref),
        st.tuples(st.just("accept"), st.lists(st.tuples(_ref, _client), max_size=3)),
        st.tuples(
            st.sampled_from(["rename", "inactive", "delete client", "delete invoice"]), _client
        ),
        st.tuples(st.just("target"), st.sampled_from(["licence", "invoice_line"])),
        st.tuples(st.just("reset")),
        st.tuples(st.just("pull")),
    ),
    min_size=1,
    max_size=8,
)


def _template(folder: Path) -> World:
    world = make_world(folder, target="invoice_line", document=seed(CLIENTS, with_invoices=True))
    world.import_usage(
        usage_document(
            [
                {"ref": ref, "name": f"Account {ref}", "status": "active", "billed": True}
                for ref in ACCOUNTS
            ],
            [],
        )
    )
    _pull(world)
    for n in (1, 2, 3):
        world.map_account(f"A{n}", n)
    return world


# Every kind of write at least once, each where it changes the columns.
EVERY_WRITE: list[tuple[Any, ...]] = [
    ("rename", 1),
    ("inactive", 2),
    ("delete client", 3),
    ("delete invoice", 1),
    ("target", "licence"),
    ("target", "invoice_line"),
    ("unmap", "A2"),
    ("map", "A4", 2),
    ("map", "A4", 4),  # remap
    ("accept", [("A5", 2), ("A2", 4)]),
    ("pull",),
    ("reset",),
    ("pull",),
    ("map", "A1", 1),
]


def test_every_kind_of_write_keeps_the_mapping_columns(tmp_path: Path) -> None:
    world = _template(tmp_path)
    try:
        seen = set()
        for step in EVERY_WRITE:
            before = _stored_and_true(world)[1]
            _apply(world, step)
            stored, true = _stored_and_true(world)
            assert stored == true, step
            if true != before:
                seen.add(step[0])
        assert seen == {step[0] for step in EVERY_WRITE} - {"pull"}
    finally:
        world.database.dispose()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_the_mapping_columns_follow_every_write(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        world = _template(Path(folder))
        try:
            for step in steps:
                _apply(world, step)
                stored, true = _stored_and_true(world)
                assert stored == true, step
        finally:
            world.database.dispose()
