"""The connection service against the simulator (HTTP, in-process) and a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.settings import Settings
from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloConnection,
    LedgerEntry,
    LogEntry,
    Service,
    ServiceMapping,
)
from halosync.store.workspaces import WorkspaceRepository
from tests.halopsa.manual_clock import ManualClock
from tests.schema_template import migrated

pytestmark = pytest.mark.anyio

SERVER = "http://halo.test"
CLIENT_ID = "2d7f4a1c-8e3b-4c5d-9f6a-1b2c3d4e5f60"
SECRET = "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


class World:
    """One simulated Halo instance, one halosync database, one workspace."""

    def __init__(self, tmp_path: Path, app_scopes: tuple[str, ...], **config: Any) -> None:
        self.app = create_app(
            SimulatorConfig(applications=[ApiApplication(CLIENT_ID, SECRET, app_scopes)], **config)
        )
        self.app.state.seed(generate_demo_seed(clients=3))
        self.settings = Settings(data_dir=tmp_path, allow_private_networks=True)
        self.database = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
        with self.database.session() as session:
            WorkspaceRepository(session).create("acme")
        self.service = ConnectionService(
            self.database,
            self.settings,
            transport=httpx2.ASGITransport(app=self.app),
            clock=ManualClock(self.app.state.clock),
        )

    def data(self, **overrides: Any) -> ConnectionInput:
        values: dict[str, Any] = {
            "server_url": SERVER,
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
        }
        values.update(overrides)
        return ConnectionInput(**values)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        state = self.app.state
        return {e: state.records(e) for e in ("SoftwareLicence", "RecurringInvoice", "Client")}


@pytest.fixture
def world(tmp_path: Path) -> Callable[..., World]:
    def make(app_scopes: tuple[str, ...] = ("all",), **config: Any) -> World:
        return World(tmp_path, app_scopes, **config)

    return make


async def test_save_tests_then_stores_encrypted(world: Callable[..., World]) -> None:
    w = world()
    view, outcome = await w.service.save("acme", w.data(target="licence"))
    assert outcome is not None
    assert outcome.message == "Test is successful."
    assert view.client_secret == "********"
    assert view.last_successful_test_at is not None
    assert view.target == "licence"
    with w.database.session() as session:
        row = session.scalar(select(HaloConnection))
        assert row is not None
        assert SECRET not in row.client_secret_encrypted
    shown = w.service.show("acme").to_dict()
    assert SECRET not in repr(shown)


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
async def test_probe_changes_no_data(world: Callable[..., World], target: str) -> None:
    w = world()
    before = w.snapshot()
    _view, outcome = await w.service.save("acme", w.data(target=target))
    assert outcome is not None
    assert outcome.success
    assert w.snapshot() == before
    posts = [e for e in w.app.state.request_log if e.method == "POST" and "/api/" in e.path]
    assert posts
    assert all(e.body_size == 2 for e in posts)  # "[]"


async def test_failing_save_is_refused_and_nothing_stored(world: Callable[..., World]) -> None:
    w = world()
    with pytest.raises(ValidationFailedError) as caught:
        await w.service.save("acme", w.data(client_secret="wrong-secret-value"))
    assert caught.value.message == "Invalid connection configuration."
    assert caught.value.fix is not None
    assert "client ID / client secret" in caught.value.fix
    with pytest.raises(NotFoundError):
        w.service.show("acme")


@pytest.mark.parametrize(
    ("target", "scopes", "missing"),
    [
        ("licence", ("read:customers",), ["read:items", "edit:softwarelicensing"]),
        (
            "licence",
            ("read:customers", "read:items", "read:softwarelicensing"),
            ["edit:softwarelicensing"],
        ),
        ("licence", ("read:items", "edit:softwarelicensing"), ["read:customers"]),
        ("invoice_line", ("read:customers", "read:items"), ["edit:invoices"]),
        ("invoice_line", ("read:customers", "read:items", "read:invoices"), ["edit:invoices"]),
        ("invoice_line", ("edit:invoices",), ["read:customers", "read:items"]),
    ],
)
async def test_every_missing_permission_is_named(
    world: Callable[..., World], target: str, scopes: tuple[str, ...], missing: list[str]
) -> None:
    w = world(app_scopes=scopes)
    outcome = await w.service.test_input(w.data(), target)
    assert not outcome.success
    assert outcome.message == "Test is not successful."
    assert sorted(p.scope for p in outcome.missing_permissions) == sorted(missing)
    text = outcome.text()
    for permission in outcome.missing_permissions:
        assert permission.area.us_name in text
        assert permission.area.uk_name in text
    assert outcome.to_dict()["missing_permissions"][0]["scope"] in missing


async def test_refuses_to_run_until_filled(world: Callable[..., World]) -> None:
    w = world()
    outcome = await w.service.test_input(w.data(client_secret=" ", client_id=""), "licence")
    assert not outcome.success
    assert "client ID, client secret" in (outcome.cause or "")
    assert len(w.app.state.request_log) == 0


@pytest.mark.parametrize(
    ("server", "words"),
    [("halo.example.com", "no protocol"), ("ftp://halo.example.com", "protocol 'ftp'")],
)
async def test_bad_url_is_named(world: Callable[..., World], server: str, words: str) -> None:
    w = world()
    with pytest.raises(ValidationFailedError, match=words):
        await w.service.save("acme", w.data(server_url=server))


async def test_private_address_refused_unless_allowed(
    world: Callable[..., World], tmp_path: Path
) -> None:
    w = world()
    strict = ConnectionService(w.database, Settings(data_dir=tmp_path))
    with pytest.raises(ValidationFailedError, match="HALOSYNC_ALLOW_PRIVATE_NETWORKS"):
        await strict.save("acme", w.data(server_url="https://127.0.0.1:8443"))
    with pytest.raises(ValidationFailedError, match="plain http"):
        await strict.save("acme", w.data(server_url="http://halo.example.com"))


async def test_hosted_tenant_html_500_is_explained(world: Callable[..., World]) -> None:
    w = world(tenant="acme")
    outcome = await w.service.test_input(w.data(tenant="Not set"), "licence")
    assert not outcome.success
    assert "tenant" in (outcome.cause or "").lower()
    assert (await w.service.test_input(w.data(tenant="acme"), "licence")).success


async def test_stored_test_records_outcome(world: Callable[..., World]) -> None:
    w = world()
    await w.service.save("acme", w.data(), test=False)
    assert w.service.show("acme").last_successful_test_at is None
    outcome = await w.service.test("acme")
    assert outcome.success
    view = w.service.show("acme")
    assert view.last_successful_test_at is not None
    assert view.last_test_message == "Test is successful."


async def test_reset_removes_connection_and_mappings_keeps_history(
    world: Callable[..., World],
) -> None:
    w = world()
    await w.service.save("acme", w.data())
    with w.database.session() as session:
        ws = WorkspaceRepository(session).resolve("acme")
        account = Account(workspace_id=ws.id, ref="A1", name="Acme", status="active", billed=True)
        service = Service(workspace_id=ws.id, ref="S1", name="Seats")
        session.add_all([account, service])
        session.flush()
        session.add_all(
            [
                AccountMapping(workspace_id=ws.id, account_id=account.id, halo_client_id=1),
                ServiceMapping(workspace_id=ws.id, service_id=service.id, halo_item_id=1),
                LedgerEntry(
                    workspace_id=ws.id,
                    account_id=account.id,
                    service_id=service.id,
                    target="licence",
                    halo_client_id=1,
                    halo_record_id=9,
                    state="written",
                    marker="m-1",
                ),
                LogEntry(workspace_id=ws.id, level="INFO", title="Customers sync completed"),
            ]
        )
    assert w.service.show("acme").account_mappings == 1
    summary = w.service.reset("acme")
    assert summary.connection_removed
    assert (summary.account_mappings_removed, summary.service_mappings_removed) == (1, 1)
    with w.database.session() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
        assert session.scalar(select(func.count()).select_from(LogEntry)) == 1
        assert session.scalar(select(func.count()).select_from(HaloConnection)) == 0
    with pytest.raises(NotFoundError):
        w.service.show("acme")


async def test_client_for_uses_the_stored_connection(world: Callable[..., World]) -> None:
    w = world()
    await w.service.save("acme", w.data())
    async with w.service.client_for("acme") as client:
        assert len(await client.clients(include_inactive=True)) == 3


async def test_testing_a_bad_address_with_a_blank_secret_says_why(
    world: Callable[..., World],
) -> None:
    # A stored secret is never sent to an address that cannot even be read; the test
    # answers "not successful" with the cause, as for any other unusable entry.
    w = world()
    await w.service.save("acme", w.data())
    outcome = await w.service.test_entered(
        "acme", w.data(server_url="halo.example.com", client_secret="")
    )
    assert outcome.success is False
    assert outcome.cause is not None
    assert "has no protocol" in outcome.cause


async def test_line_write_path_is_kept_until_changed_and_checked(
    world: Callable[..., World],
) -> None:
    from dataclasses import replace

    from halosync.errors import ValidationFailedError

    w = world()
    view, _ = await w.service.save("acme", w.data(target="invoice_line"))
    assert view.line_write_path == "invoice"
    view, _ = await w.service.save(
        "acme", replace(w.data(target="invoice_line"), line_write_path="update_lines")
    )
    assert view.line_write_path == "update_lines"
    view, _ = await w.service.save("acme", w.data(target="invoice_line"))
    assert view.line_write_path == "update_lines"  # left out: the stored one is kept
    with pytest.raises(ValidationFailedError, match="Line write path 'sideways'") as refused:
        await w.service.save(
            "acme", replace(w.data(target="invoice_line"), line_write_path="sideways")
        )
    assert refused.value.fix is not None
    assert "invoice, update_lines" in refused.value.fix
    assert w.service.show("acme").to_dict()["line_write_path"] == "update_lines"
