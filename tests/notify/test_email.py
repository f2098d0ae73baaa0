"""Sync emails through a real local SMTP server (aiosmtpd): opt-in, counts, link, alerts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from sqlalchemy import delete, select

from halosync.domain.review import ReviewPolicy
from halosync.jobs.embedded import EmbeddedJobs
from halosync.jobs.service import request_sync
from halosync.logging import register_secret
from halosync.notify.email import EmailDeliveryError, SmtpConfig, send_email
from halosync.settings import Settings
from halosync.store.models import HaloConnection, SyncRun
from halosync.sync.review import set_review_policy
from tests.sync.world import World, make_world, usage_document

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-pa55word-never-logged"


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(message_from_bytes(content))
        return "250 OK"


def _authenticate(
    _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield inbox, port
    controller.stop()


def _world(tmp_path: Path, port: int) -> World:
    w = make_world(tmp_path)
    w.settings = Settings(
        **{
            **w.settings.model_dump(),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_user": SMTP_USER,
            "smtp_password": SMTP_PASSWORD,
            "smtp_from": "halosync@example.test",
            "public_url": "https://halosync.example.test/",
        }
    )
    w.import_usage(
        usage_document(
            [
                {"ref": "A1", "name": "Alpha", "status": "active", "billed": True},
                {"ref": "A2", "name": "Unmapped Co", "status": "active", "billed": True},
            ],
            [
                {"account_ref": "A1", "service_ref": "MAIL", "quantity": 3},
                {"account_ref": "A2", "service_ref": "MAIL", "quantity": 4},
            ],
        )
    )
    asyncio.run(w.customers())
    w.map_account("A1", 1)
    w.map_service("MAIL", 1)
    return w


def _run(world: World, kind: str) -> SyncRun:
    with EmbeddedJobs(
        world.settings, world.database, halo_factory=world.factory, tick=False
    ) as jobs:
        run_id = request_sync(
            world.database,
            world.settings,
            jobs.queue,
            world.workspace_id,
            kind="usage" if kind == "usage" else "customers",
        )
        while True:
            with world.database.session() as session:
                run = session.get(SyncRun, run_id)
                assert run is not None
                if run.status not in ("queued", "running"):
                    break
            asyncio.run(asyncio.sleep(0.05))
    # The listener runs after the run closes: stopping the consumer waited for it.
    return run


def test_completed_email_and_unmapped_alert_are_sent_when_opted_in(
    tmp_path: Path, smtp: tuple[Inbox, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inbox, port = smtp
    world = _world(tmp_path, port)
    world.set(notify_email="billing@msp.test", notify_on_success=True, notify_on_failure=True)
    run = _run(world, "usage")
    assert run.status == "succeeded"
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects == [
        "[halosync] Subscriptions sync completed: acme",
        "[halosync] Attention needed: acme",
    ]
    done, alert = inbox.messages
    assert done["To"] == "billing@msp.test"
    body = done.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "created 1" in body
    assert "skipped 1" in body
    assert f"https://halosync.example.test/ui/w/{world.workspace_id}/logs?run={run.id}" in body
    alert_body = alert.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "account A2 has billable usage but is not mapped" in alert_body
    # Client 1 is deleted in Halo: the next customers pull alerts about account A1.
    world.sim.state.delete_by_hand("Client", 1)
    inbox.messages.clear()
    assert _run(world, "customers").status == "succeeded"
    assert [m["Subject"] for m in inbox.messages] == [
        "[halosync] Customers sync completed: acme",
        "[halosync] Attention needed: acme",
    ]
    alert_body = inbox.messages[1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert (
        "account A1 is mapped to HaloPSA client 'Client 1 Ltd' (1), which no longer exists"
        in alert_body
    )
    assert SMTP_PASSWORD not in capsys.readouterr().err + capsys.readouterr().out


def test_nothing_is_sent_without_opt_in(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    world = _world(tmp_path, port)
    world.set(notify_email="billing@msp.test")  # address kept, both switches off
    assert _run(world, "usage").status == "succeeded"
    assert inbox.messages == []


def test_failed_run_email_says_why(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    world = _world(tmp_path, port)
    world.set(notify_email="ops@msp.test; billing@msp.test", notify_on_failure=True)
    with world.database.session() as session:
        session.execute(delete(HaloConnection))
    run = _run(world, "customers")
    assert run.status == "halted"
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects[0] == "[halosync] Customers sync halted: acme"
    first = inbox.messages[0]
    assert first["To"] == "ops@msp.test, billing@msp.test"
    body = first.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Reason: Workspace 'acme' has no Halo connection." in body


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    config = SmtpConfig("127.0.0.1", _free_port(), user=SMTP_USER, password="wrong-secret-value")
    register_secret("wrong-secret-value")
    with pytest.raises(EmailDeliveryError) as refused:
        send_email(config, ["a@b.test"], "hi", "body")
    assert "a@b.test via 127.0.0.1:" in str(refused.value)
    assert "HALOSYNC_SMTP_HOST" in str(refused.value)
    assert "wrong-secret-value" not in str(refused.value)
    assert "wrong-secret-value" not in repr(config)


def test_a_change_held_for_review_is_emailed_once(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    world = _world(tmp_path, port)
    world.set(notify_email="billing@msp.test", notify_on_failure=True, sync_cooldown_minutes=0)
    set_review_policy(world.database, world.workspace_id, ReviewPolicy(), actor="setup")
    assert _run(world, "usage").status == "succeeded"
    world.import_usage(
        usage_document(
            [{"ref": "A1", "name": "Alpha", "status": "active", "billed": True}],
            [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 300}],
        )
    )
    inbox.messages.clear()
    run = _run(world, "usage")
    assert run.status == "succeeded"
    held = [m for m in inbox.messages if m["Subject"] == "[halosync] Changes held for review: acme"]
    assert len(held) == 1
    body = held[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "A1 / MAIL, licence" in body
    assert "count 3 → 300" in body
    assert f"https://halosync.example.test/ui/w/{world.workspace_id}/review" in body
    # The next run holds the same value again: no second email about it.
    inbox.messages.clear()
    assert _run(world, "usage").status == "succeeded"
    assert all("held for review" not in m["Subject"] for m in inbox.messages)


def test_the_same_failure_and_the_same_alert_are_emailed_once_then_resolved(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    world = _world(tmp_path, port)
    world.set(notify_email="ops@msp.test", notify_on_failure=True, sync_cooldown_minutes=0)
    with world.database.session() as session:
        saved = session.scalars(select(HaloConnection)).one()
        kept = {
            column: getattr(saved, column)
            for column in ("server_url", "client_id", "client_secret_encrypted", "configured_at")
        }
        session.execute(delete(HaloConnection))
    for _ in range(3):
        assert _run(world, "customers").status == "halted"
    assert [m["Subject"] for m in inbox.messages] == [
        "[halosync] Customers sync halted: acme",
        "[halosync] Attention needed: acme",
    ]
    inbox.messages.clear()
    with world.database.session() as session:
        session.add(HaloConnection(workspace_id=world.workspace_id, **kept))
    assert _run(world, "customers").status == "succeeded"
    assert [m["Subject"] for m in inbox.messages] == ["[halosync] Resolved: Customers sync acme"]

    inbox.messages.clear()
    world.map_account("A2", 2)  # the last account that needed attention
    assert _run(world, "usage").status == "succeeded"
    assert [m["Subject"] for m in inbox.messages] == [
        "[halosync] Resolved: nothing needs attention in acme"
    ]
    inbox.messages.clear()
    assert _run(world, "usage").status == "succeeded"
    assert inbox.messages == []


def test_a_workspace_name_kept_with_a_line_break_still_gets_its_email(
    smtp: tuple[Inbox, int],
) -> None:
    """A name stored before CR/LF was refused reaches the Subject escaped: one header, sent
    (a raw line break made the message unbuildable, so no email went out)."""
    inbox, port = smtp
    send_email(
        SmtpConfig("127.0.0.1", port), ["a@b.test"], "[halosync] done: evil\r\nBcc: x@y.z", "b"
    )
    (message,) = inbox.messages
    assert message["Subject"] == "[halosync] done: evil\\r\\nBcc: x@y.z"
    assert message["Bcc"] is None
