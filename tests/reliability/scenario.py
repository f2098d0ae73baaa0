"""A seeded billing world for reliability runs, and the oracle that judges the end state.

A scenario is random but reproducible from one integer: Halo clients, items, *foreign*
records (licences or invoice lines halosync did not create, which it must never touch),
vendor accounts with subscriptions, and the mappings. The oracle works out, from the
vendor data alone and without halosync's planner, what Halo must hold after a clean run
and checks Halo and the ledger against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from halosync.domain.markers import find_marker, marker_for
from halosync.domain.models import LineWritePath
from halosync.domain.review import REVIEW_OFF
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.retry import RetryPolicy
from halosync.mapping.service import map_account, map_service
from halosync.settings import Settings
from halosync.simulator import ApiApplication, SimulatorConfig
from halosync.simulator.server import serve_in_thread
from halosync.sources.importer import import_document
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import Account, LedgerEntry, Service, Workspace
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.customers import run_customers_sync
from halosync.sync.gather import workspace_key
from halosync.sync.results import UsageReport
from halosync.sync.review import set_review_policy
from halosync.sync.usage import run_usage_sync
from tests.cli_inprocess import data_folder
from tests.reliability.chaos import ChaosSimulator
from tests.schema_template import migrated
from tests.sync.world import CLIENT_ID, CLIENT_SECRET

Target = Literal["licence", "invoice_line"]
PriceMode = Literal["off", "totals", "unit"]

SERVICE_ITEMS = {"S1": 1, "S2": 2, "S3": 3}
"""Mapped services and their Halo items; S4 (item 4) exists but stays unmapped."""
SERVICE_NAMES = {"S1": "Mail Protection", "S2": "Backup", "S3": "Endpoint", "S4": "Archiving"}
FOREIGN_ITEMS = (90, 91)
CLIENT_TIMEOUT_SECONDS = 0.5
RATE_WINDOW_SECONDS = 0.05
FAST_RETRY = RetryPolicy(
    attempts=3, timeout=5.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0
)
_CENT = Decimal("0.01")
_FOUR = Decimal("0.0001")


def four(value: Any) -> Decimal | None:
    """A Halo number as halosync compares it: half-up at four decimal places."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(_FOUR, rounding=ROUND_HALF_UP)


@dataclass
class VendorSub:
    """One subscription as the vendor holds it now (prices are totals)."""

    account_ref: str
    service_ref: str
    quantity: int
    cost: Decimal
    price: Decimal

    def document(self) -> dict[str, Any]:
        """The import row."""
        return {
            "account_ref": self.account_ref,
            "service_ref": self.service_ref,
            "quantity": self.quantity,
            "start_date": "2024-01-01",
            "billing_cycle": "Monthly",
            "term": "Monthly",
            "cost_price": str(self.cost),
            "customer_price": str(self.price),
        }


@dataclass
class Vendor:
    """The vendor's accounts and subscriptions, and which accounts are mapped where."""

    accounts: dict[str, dict[str, Any]]
    subs: dict[tuple[str, str], VendorSub]
    account_clients: dict[str, int]

    def document(self) -> dict[str, Any]:
        """The whole import document (accounts and services are upserted from it)."""
        return {
            "accounts": list(self.accounts.values()),
            "services": [{"ref": ref, "name": name} for ref, name in SERVICE_NAMES.items()],
            "subscriptions": [sub.document() for sub in self.subs.values()],
        }


def _prices(rng: random.Random) -> tuple[Decimal, Decimal]:
    cost = Decimal(rng.randint(100, 9999)) / 100
    return cost, (cost * Decimal("1.3")).quantize(_CENT, rounding=ROUND_HALF_UP)


def make_vendor(rng: random.Random, clients: int) -> Vendor:
    """Accounts A01.. (mostly billed and active, some trial, unbilled or unmapped)."""
    accounts: dict[str, dict[str, Any]] = {}
    subs: dict[tuple[str, str], VendorSub] = {}
    mapped: dict[str, int] = {}
    for n in range(1, clients + 1):
        ref = f"A{n:02d}"
        roll = rng.random()
        status = "trial" if roll < 0.1 else "suspended" if roll < 0.2 else "active"
        billed = rng.random() > 0.1
        accounts[ref] = {"ref": ref, "name": f"Client {n} Ltd", "status": status, "billed": billed}
        if rng.random() < 0.88:
            mapped[ref] = n
        for service in rng.sample(sorted(SERVICE_NAMES), rng.randint(1, 3)):
            cost, price = _prices(rng)
            subs[(ref, service)] = VendorSub(ref, service, rng.randint(1, 40), cost, price)
    return Vendor(accounts, subs, mapped)


def mutate_vendor(rng: random.Random, vendor: Vendor) -> int:
    """New counts and prices for some subscriptions, and a few new ones; how many changed."""
    changed = 0
    for sub in vendor.subs.values():
        if rng.random() < 0.35:
            sub.quantity = rng.randint(1, 60)
            if rng.random() < 0.5:
                sub.cost, sub.price = _prices(rng)
            changed += 1
    for ref in vendor.accounts:
        missing = [s for s in SERVICE_NAMES if (ref, s) not in vendor.subs]
        if missing and rng.random() < 0.15:
            service = rng.choice(missing)
            cost, price = _prices(rng)
            vendor.subs[(ref, service)] = VendorSub(ref, service, rng.randint(1, 40), cost, price)
            changed += 1
    return changed


def make_seed(rng: random.Random, clients: int, target: Target) -> dict[str, Any]:
    """Halo as the MSP left it: clients, items and foreign licences or invoice lines."""
    document: dict[str, Any] = {
        "clients": [{"id": n, "name": f"Client {n} Ltd"} for n in range(1, clients + 3)],
        "items": [
            *(
                {"id": SERVICE_ITEMS.get(ref, 4), "name": name, "baseprice": 9.5, "costprice": 4.0}
                for ref, name in SERVICE_NAMES.items()
            ),
            {"id": 90, "name": "Managed Services", "baseprice": 50.0, "costprice": 0.0},
            {"id": 91, "name": "Domain Renewal", "baseprice": 12.0, "costprice": 8.0},
        ],
    }
    if target == "licence":
        licences: list[dict[str, Any]] = []
        for n in range(1, clients + 3):
            for _ in range(rng.choice((0, 0, 1, 2))):
                licences.append(
                    {
                        "name": f"Hand-made licence {len(licences) + 1}",
                        "client_id": n,
                        "item_id": rng.choice((1, 2, 3, 90)),
                        "count": rng.randint(1, 30),
                        "price": 3.25,
                        "notes": "entered by hand",
                    }
                )
        document["licences"] = licences
    else:
        invoices = []
        for n in range(1, clients + 3):
            lines: list[dict[str, Any]] = [
                {"_itemid": rng.choice(FOREIGN_ITEMS), "qty_order": 1, "unit_price": 50.0}
            ]
            if rng.random() < 0.15:
                # Same item as a mapped service: halosync must skip that pair, never touch it.
                lines.append({"_itemid": rng.choice((1, 2, 3)), "qty_order": 7, "unit_price": 2.0})
            invoices.append({"id": -n, "client_id": n, "reference": f"Monthly {n}", "lines": lines})
        document["recurring_invoices"] = invoices
    return document


@dataclass
class Scenario:
    """One workspace, its database and a chaos simulator serving on a real local port."""

    seed: int
    rng: random.Random
    target: Target
    price_mode: PriceMode
    tmp_path: Path
    settings: Settings
    database: Database
    box: SecretBox
    sim: ChaosSimulator
    url: str
    workspace_id: int
    vendor: Vendor
    foreign: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Foreign licences by id, or foreign lines by line id, as first seen."""
    line_write_path: LineWritePath = "invoice"
    """How invoice lines are written (target ``invoice_line``): both paths are drawn."""
    blocked: set[tuple[str, str]] = field(default_factory=set)
    renamed: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``invoice_line (update_lines)/totals``: what the tallies count."""
        if self.target == "invoice_line":
            return f"{self.target} ({self.line_write_path})/{self.price_mode}"
        return f"{self.target}/{self.price_mode}"

    # --- running syncs in this process ----------------------------------------------

    def factory(self, config: HaloConnectionConfig) -> HaloApiClient:
        """A client with short timeouts and retries, so faults cost milliseconds."""
        return HaloApiClient(
            config,
            retry=FAST_RETRY,
            allow_private_networks=True,
            timeout_seconds=CLIENT_TIMEOUT_SECONDS,
            rate_window_seconds=RATE_WINDOW_SECONDS,
        )

    async def usage(self, **options: Any) -> UsageReport:
        """One usage sync, in process, through the real port."""
        return await run_usage_sync(
            self.database,
            self.box,
            self.settings,
            self.workspace_id,
            halo_factory=self.factory,
            **options,
        )

    def import_vendor(self) -> None:
        """Feed the vendor's current data in (an upsert of everything)."""
        import_document(self.database, self.workspace_id, self.vendor.document())

    @property
    def workspace_key(self) -> str:
        """What the workspace's markers are made from."""
        with self.database.session() as session:
            workspace = session.get(Workspace, self.workspace_id)
            assert workspace is not None
            return workspace_key(workspace)

    # --- what Halo holds ----------------------------------------------------------------

    def licences(self) -> list[dict[str, Any]]:
        """Every licence in Halo."""
        return self.sim.state.records("SoftwareLicence")

    def invoices(self) -> list[dict[str, Any]]:
        """Every recurring invoice in Halo, with its lines."""
        return self.sim.state.records("RecurringInvoice")

    def ours(self) -> list[dict[str, Any]]:
        """Records carrying a halosync marker: licences, or invoice lines (with ``ihid``)."""
        if self.target == "licence":
            return [lic for lic in self.licences() if find_marker(lic.get("notes"))]
        return [
            {**line, "ihid": invoice["id"]}
            for invoice in self.invoices()
            for line in invoice.get("lines") or []
            if find_marker(line.get("comment_2"))
        ]

    def posts(self) -> int:
        """POSTs Halo has seen (writes)."""
        return sum(
            1
            for entry in self.sim.state.request_log
            if entry.method == "POST" and entry.path.lower().startswith("/api/")
        )

    def snapshot_foreign(self) -> None:
        """Remember every foreign record as it is before halosync runs."""
        if self.target == "licence":
            self.foreign = {lic["id"]: lic for lic in self.licences()}
            return
        for invoice in self.invoices():
            for line in invoice.get("lines") or []:
                self.foreign[int(line["id"])] = {**line, "ihid": invoice["id"]}
                if int(line["_itemid"]) in SERVICE_ITEMS.values():
                    client = int(invoice["client_id"])
                    for ref, mapped in self.vendor.account_clients.items():
                        if mapped == client:
                            service = next(
                                s for s, item in SERVICE_ITEMS.items() if item == line["_itemid"]
                            )
                            self.blocked.add((ref, service))

    # --- "someone in Halo" ----------------------------------------------------------------

    def hand_edits(self, rng: random.Random) -> list[str]:
        """Recount, rename or delete some of halosync's records the way a person would."""
        done: list[str] = []
        for record in self.ours():
            roll = rng.random()
            if roll > 0.3:
                continue
            record_id = int(record["id"])
            if self.target == "licence":
                if roll < 0.1:
                    self.sim.state.delete_by_hand("SoftwareLicence", record_id)
                    done.append(f"deleted licence {record_id}")
                elif roll < 0.2:
                    name = f"Renamed by hand {record_id}"
                    self.sim.state.edit_by_hand("SoftwareLicence", record_id, name=name)
                    self.renamed[record_id] = name
                    done.append(f"renamed licence {record_id}")
                else:
                    count = int(record["count"]) + rng.randint(1, 9)
                    self.sim.state.edit_by_hand("SoftwareLicence", record_id, count=count)
                    done.append(f"recounted licence {record_id}")
                continue
            invoice_id = int(record["ihid"])
            if roll < 0.12:
                invoice = self.sim.state.record("RecurringInvoice", invoice_id)
                assert invoice is not None
                keep = [{"id": ln["id"]} for ln in invoice["lines"] if ln["id"] != record_id]
                self.sim.state.edit_by_hand("RecurringInvoice", invoice_id, lines=keep)
                done.append(f"deleted line {record_id}")
            else:
                quantity = float(record["qty_order"]) + rng.randint(1, 9)
                self.sim.state.edit_by_hand(
                    "RecurringInvoice",
                    invoice_id,
                    add_lines=[{"id": record_id, "qty_order": quantity}],
                )
                done.append(f"recounted line {record_id}")
        return done

    # --- the oracle -------------------------------------------------------------------

    def expected(self) -> dict[tuple[str, str], VendorSub]:
        """The pairs Halo must hold a halosync record for, worked out from vendor data."""
        wanted: dict[tuple[str, str], VendorSub] = {}
        for key, sub in self.vendor.subs.items():
            account = self.vendor.accounts[sub.account_ref]
            if account["status"] == "trial" or not account["billed"]:
                continue
            if sub.account_ref not in self.vendor.account_clients:
                continue
            if sub.service_ref not in SERVICE_ITEMS or key in self.blocked:
                continue
            wanted[key] = sub
        return wanted

    def _prices_expected(self, sub: VendorSub) -> tuple[Decimal | None, Decimal | None]:
        """(sell, cost) Halo must hold, or (None, None) when prices are not synced."""
        if self.price_mode == "off":
            return None, None
        per_unit = self.price_mode == "unit" or self.target == "invoice_line"
        if per_unit:
            return four(sub.price / sub.quantity), four(sub.cost / sub.quantity)
        return four(sub.price), four(sub.cost)

    def verify(self) -> None:
        """Halo and the ledger hold exactly what the vendor data says; foreign untouched."""
        key = self.workspace_key
        wanted = self.expected()
        markers = {marker_for(key, a, s): (a, s) for (a, s) in self.vendor.subs}
        problems: list[str] = []
        found: dict[tuple[str, str], dict[str, Any]] = {}
        tally: Counter[tuple[str, str]] = Counter()
        for record in self.ours():
            field_name = "notes" if self.target == "licence" else "comment_2"
            pair = markers.get(find_marker(record.get(field_name)) or "")
            if pair is None:
                problems.append(f"record {record['id']} carries a marker of no known pair")
                continue
            tally[pair] += 1
            found[pair] = record
        for pair, times in tally.items():
            if times > 1:
                problems.append(f"{pair}: {times} records in Halo (duplicates)")
            if pair not in wanted:
                problems.append(f"{pair}: Halo holds a record, but none is wanted")
        for pair, sub in sorted(wanted.items()):
            held = found.get(pair)
            if held is None:
                problems.append(f"{pair}: no record in Halo (lost)")
                continue
            problems.extend(self._check_record(pair, sub, held))
        problems.extend(self._check_foreign())
        problems.extend(self._check_ledger(wanted, found))
        if problems:
            raise AssertionError("Halo or the ledger is wrong:\n  " + "\n  ".join(problems))

    def _check_record(
        self, pair: tuple[str, str], sub: VendorSub, record: dict[str, Any]
    ) -> list[str]:
        problems: list[str] = []
        client = self.vendor.account_clients[sub.account_ref]
        item = SERVICE_ITEMS[sub.service_ref]
        sell, cost = self._prices_expected(sub)
        if self.target == "licence":
            quantity, got_sell, got_cost = (
                record["count"],
                record["price"],
                record["purchase_price"],
            )
            place = (int(record["client_id"]), int(record["item_id"]))
            name = self.renamed.get(int(record["id"]), SERVICE_NAMES[sub.service_ref])
            if record["name"] != name:
                problems.append(f"{pair}: licence named {record['name']!r}, expected {name!r}")
        else:
            quantity = record["qty_order"]
            got_sell, got_cost = record["unit_price"], record["unit_cost"]
            place = (int(record["ihid"]), int(record["_itemid"]))
            client = -client
        if place != (client, item):
            problems.append(f"{pair}: record {record['id']} at {place}, expected {(client, item)}")
        if four(quantity) != four(sub.quantity):
            problems.append(f"{pair}: quantity {quantity} in Halo, vendor has {sub.quantity}")
        if sell is not None and (four(got_sell), four(got_cost)) != (sell, cost):
            problems.append(f"{pair}: prices {got_sell}/{got_cost}, expected {sell}/{cost}")
        return problems

    def _check_foreign(self) -> list[str]:
        problems: list[str] = []
        if self.target == "licence":
            now = {lic["id"]: lic for lic in self.licences()}
        else:
            now = {
                int(line["id"]): {**line, "ihid": invoice["id"]}
                for invoice in self.invoices()
                for line in invoice.get("lines") or []
            }
        for record_id, before in self.foreign.items():
            after = now.get(record_id)
            if after != before:
                problems.append(f"foreign record {record_id} changed: {before} -> {after}")
        strays = [
            rid
            for rid, rec in now.items()
            if rid not in self.foreign
            and not find_marker(rec.get("notes" if self.target == "licence" else "comment_2"))
        ]
        if strays:
            problems.append(f"records without a halosync marker appeared: {strays}")
        return problems

    def _check_ledger(
        self, wanted: dict[tuple[str, str], VendorSub], found: dict[tuple[str, str], dict[str, Any]]
    ) -> list[str]:
        problems: list[str] = []
        with self.database.session() as session:
            rows = session.execute(
                select(LedgerEntry, Account.ref, Service.ref)
                .join(Account, Account.id == LedgerEntry.account_id)
                .join(Service, Service.id == LedgerEntry.service_id)
                .where(LedgerEntry.workspace_id == self.workspace_id)
            ).all()
        by_pair: defaultdict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
        for entry, account_ref, service_ref in rows:
            by_pair[(account_ref, service_ref)].append(entry)
        for pair, sub in wanted.items():
            entries = by_pair.get(pair, [])
            if len(entries) != 1:
                problems.append(f"{pair}: {len(entries)} ledger rows")
                continue
            entry = entries[0]
            record = found.get(pair)
            if entry.state != "written":
                problems.append(f"{pair}: ledger row is {entry.state}")
            if record is not None and entry.halo_record_id != int(record["id"]):
                problems.append(
                    f"{pair}: ledger says record {entry.halo_record_id}, Halo has {record['id']}"
                )
            if entry.last_quantity != sub.quantity:
                problems.append(f"{pair}: ledger quantity {entry.last_quantity} != {sub.quantity}")
        for pair in by_pair.keys() - wanted.keys():
            problems.append(f"{pair}: ledger row for a pair that must not be synced")
        return problems


def _configure(scenario: Scenario) -> None:
    """Connection, customers pull, vendor import and mappings: the set-up a user does."""
    with scenario.database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        workspace.target = scenario.target
        workspace.price_mode = scenario.price_mode
        # The oracle's rule for a foreign line of a mapped item is "left alone, pair
        # skipped": "only lines halosync adds". Taking such a line over (the default) is
        # judged end to end in tests/e2e/test_invoice_lines.py.
        workspace.adopt_existing_lines = False
        HaloConnectionRepository(session, workspace.id, scenario.box).save(
            ConnectionDetails(
                scenario.url,
                None,
                None,
                CLIENT_ID,
                CLIENT_SECRET,
                line_write_path=scenario.line_write_path,
            )
        )
        # As `connection set` leaves it: tested, so Halo has issued it tokens (a 500 from
        # the token endpoint is then a passing fault, resent, not set-up advice).
        connections = HaloConnectionRepository(session, workspace.id, scenario.box)
        connections.record_test(success=True, message="Test is successful.")
        scenario.workspace_id = workspace.id
    # The scenario's vendor moves counts freely and checks Halo ends exact: nothing is held.
    set_review_policy(scenario.database, scenario.workspace_id, REVIEW_OFF, actor="scenario")
    scenario.import_vendor()
    pulled = asyncio.run(
        run_customers_sync(
            scenario.database,
            scenario.box,
            scenario.settings,
            scenario.workspace_id,
            halo_factory=scenario.factory,
        )
    )
    assert pulled.status == "succeeded", pulled
    with scenario.database.session() as session:
        for ref, client in scenario.vendor.account_clients.items():
            invoice = -client if scenario.target == "invoice_line" else None
            map_account(session, scenario.workspace_id, ref, client, recurring_invoice_id=invoice)
        for ref, item in SERVICE_ITEMS.items():
            map_service(session, scenario.workspace_id, ref, item)


@contextlib.contextmanager
def open_scenario(
    tmp_path: Path,
    seed: int,
    *,
    target: Target | None = None,
    line_write_path: LineWritePath | None = None,
    database_url: str | None = None,
    batch_size: int = 3,
) -> Iterator[Scenario]:
    """A configured scenario drawn from ``seed``, its simulator serving until the block ends."""
    rng = random.Random(seed)
    drawn: Target = "licence" if rng.random() < 0.5 else "invoice_line"
    chosen = target if target is not None else drawn
    # Drawn apart from ``rng``, so every other draw of a seed stays what it was.
    paths: tuple[LineWritePath, ...] = ("invoice", "update_lines")
    path = random.Random(f"{seed}:line_write_path").choice(paths)
    if line_write_path is not None:
        path = line_write_path
    price_mode: PriceMode = rng.choice(("off", "totals", "unit"))
    clients = rng.randint(6, 10)
    settings = Settings(
        data_dir=data_folder(tmp_path),
        database_url=database_url or f"sqlite:///{tmp_path / 'halosync.db'}",
        allow_private_networks=True,
        sync_batch_size=batch_size,
        halo_rate_window_seconds=RATE_WINDOW_SECONDS,
        sync_stale_run_seconds=30.0,
    )
    database = migrated(Database.from_settings(settings))
    sim = ChaosSimulator(
        SimulatorConfig(
            applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))],
            rate_limit=100_000,
            fault_seed=seed,
        )
    )
    sim.state.seed(make_seed(rng, clients, chosen))
    vendor = make_vendor(rng, clients)
    with serve_in_thread(sim) as url:
        scenario = Scenario(
            seed=seed,
            rng=rng,
            target=chosen,
            price_mode=price_mode,
            tmp_path=tmp_path,
            settings=settings,
            database=database,
            box=SecretBox.from_settings(settings),
            sim=sim,
            url=url,
            workspace_id=0,
            vendor=vendor,
            line_write_path=path,
        )
        _configure(scenario)
        scenario.snapshot_foreign()
        try:
            yield scenario
        finally:
            database.dispose()
