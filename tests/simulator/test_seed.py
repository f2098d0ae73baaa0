"""Seeding from code and files, and the demo data generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.simulator import Simulator, generate_demo_seed
from halosync.simulator.app import create_app
from halosync.simulator.config import SimulatorConfig
from halosync.simulator.entities import entity_named

LEGAL_SUFFIX = re.compile(r" (Ltd|Limited|Inc|LLC|GmbH|Pty Ltd|LLP|plc|Corp|Group Ltd)$")


def test_seed_keeps_given_ids_and_continues_after_them(sim: Simulator) -> None:
    counts = sim.state.seed(
        {
            "clients": [{"id": 420, "name": "Timothy Taylor Limited"}],
            "recurring_invoices": [
                {
                    "id": -94,
                    "client_id": 420,
                    "reference": "Monthly Billing",
                    "lines": [{"id": 24967, "_itemid": -1, "qty_order": 14, "unit_price": 10.32}],
                }
            ],
        }
    )
    assert counts == {"clients": 1, "recurring_invoices": 1}
    (invoice,) = sim.state.records("RecurringInvoice")
    assert invoice["id"] == -94
    assert invoice["lines"][0]["id"] == 24967
    assert invoice["client_name"] == "Timothy Taylor Limited"
    kind = entity_named("RecurringInvoice")
    new_ids = sim.state.store.upsert(
        kind, [{"client_id": 420, "lines": [{"qty_order": 1}]}], "2025-01-01T00:00:00"
    )
    assert new_ids == [-95]
    created = sim.state.record("RecurringInvoice", -95)
    assert created is not None
    assert created["lines"][0]["id"] == 24968


def test_bad_seed_names_the_place_and_loads_nothing(sim: Simulator) -> None:
    with pytest.raises(ValueError, match=r"licences\[1\]\.client_id") as caught:
        sim.state.seed(
            {
                "clients": [{"id": 1, "name": "A"}],
                "licences": [{"name": "ok", "client_id": 1}, {"name": "bad", "client_id": 2}],
            }
        )
    assert "licences[1].client_id" in str(caught.value)
    assert sim.state.records("Client") == []
    with pytest.raises(ValueError, match="unknown seed key"):
        sim.state.seed({"tickets": []})
    with pytest.raises(ValueError, match="ids are negative"):
        sim.state.seed(
            {"clients": [{"id": 1, "name": "A"}], "recurring_invoices": [{"id": 5, "client_id": 1}]}
        )


def test_seed_file(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "halo.json"
    path.write_text(json.dumps({"items": [{"name": "Email Security Gateway"}]}))
    assert sim.state.seed_file(path) == {"items": 1}
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  'items': []\n}")
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON \(line 2"):
        sim.state.seed_file(broken)
    with pytest.raises(ValueError, match="does not exist"):
        sim.state.seed_file(tmp_path / "missing.json")


def test_demo_seed_is_realistic() -> None:
    document = generate_demo_seed(clients=60, seed=4)
    clients = document["clients"]
    assert len(clients) == 60
    assert len({client["name"] for client in clients}) == 60
    assert all(LEGAL_SUFFIX.search(client["name"]) for client in clients)
    inactive = {client["id"] for client in clients if client["inactive"]}
    assert inactive
    billed = {invoice["client_id"] for invoice in document["recurring_invoices"]}
    active_without_invoice = {c["id"] for c in clients} - inactive - billed
    assert active_without_invoice
    assert not billed & inactive
    item_names = {item["name"] for item in document["items"]}
    assert {
        "Microsoft 365 Business Premium",
        "Endpoint Protection",
        "Email Security Gateway",
    } <= item_names
    vendor_items = {i["id"] for i in document["items"] if i["nominalcode"] == "4000"}
    for invoice in document["recurring_invoices"]:
        item_ids = [line["_itemid"] for line in invoice["lines"]]
        assert len(item_ids) >= 2
        assert any(i not in vendor_items for i in item_ids)
        assert any(i in vendor_items for i in item_ids)
    assert any(
        line.get("quantity_licences")
        for invoice in document["recurring_invoices"]
        for line in invoice["lines"]
    )


@settings(max_examples=15, deadline=None)
@given(clients=st.integers(0, 80), seed=st.integers(0, 10_000))
def test_demo_seed_is_deterministic_and_loads(clients: int, seed: int) -> None:
    document = generate_demo_seed(clients=clients, seed=seed)
    assert document == generate_demo_seed(clients=clients, seed=seed)
    sim = create_app(SimulatorConfig())
    counts = sim.state.seed(document)
    assert counts["clients"] == clients
    assert len(sim.state.records("RecurringInvoice")) == len(document["recurring_invoices"])


def test_demo_seed_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match="clients"):
        generate_demo_seed(clients=-1)
