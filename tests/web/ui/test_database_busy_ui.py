"""A database too busy to answer is the 503 'try again' page on every UI route (the API's
rule), never a flash or an inline error that reads as if the form were wrong."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import select
from starlette.routing import Route
from starlette.testclient import TestClient

from halosync.store.models import Account, HaloClient, HaloItem, Service
from halosync.web.ui.routes import activity, auth, dashboard, mapping, review, rules, setup
from tests.busy_database import locked_until_refused
from tests.web.ui.world import ADMIN, PASSWORD, World, connect_and_pull, csrf_of, log_in

LOCKED = "The database stayed locked by another halosync process"


def _posted_routes() -> list[str]:
    """The path of every UI route a form posts to (login included)."""
    modules = (activity, auth, dashboard, mapping, review, rules, setup)
    return sorted(
        {
            route.path
            for module in modules
            for route in module.router.routes
            if isinstance(route, Route)
            and "POST" in (route.methods or ())
            and route.path != "/ui/logout"
        }
    )


def _form(world: World, token: str) -> dict[str, str]:
    """One value for every field any of the forms reads, each one it accepts."""
    with world.database.reading() as db:
        account = db.scalar(
            select(Account.ref).where(Account.workspace_id == world.alpha).order_by(Account.ref)
        )
        service = db.scalar(
            select(Service.ref).where(Service.workspace_id == world.alpha).order_by(Service.ref)
        )
        client = db.scalar(select(HaloClient.halo_id).where(HaloClient.workspace_id == world.alpha))
        item = db.scalar(select(HaloItem.halo_id).where(HaloItem.workspace_id == world.alpha))
    return {
        "csrf_token": token,
        "email": ADMIN,
        "password": PASSWORD,
        "account_ref": str(account),
        "halo_client_id": str(client),
        "service_ref": str(service),
        "halo_item_id": str(item),
        "price_mode": "unit",
        "target": "licence",
        "confirmed": "yes",
        "kind": "usage",
        "frequency": "daily",
        "at": "09:00",
        "enabled": "yes",
        "cooldown_minutes": "5",
        "log_retention_days": "30",
        "server_url": world.halo_url,
        "client_id": world.application.client_id,
        "client_secret": world.application.client_secret,
        "scope": "all",
        "reason": "internal tenant",
        "minimum": "5",
        "accept": "0",
        "ref-0": str(account),
        "client-0": str(client),
    }


def test_a_database_locked_while_a_form_writes_is_the_503_page_on_every_route(
    world: World,
) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    form = _form(world, token)
    hit: list[str] = []
    wrong: list[tuple[str, int | str]] = []
    for path in _posted_routes():
        url = (
            path.replace("{workspace_id}", str(world.alpha))
            .replace("{step}", "accounts")
            .replace("{action}", "exclude")
        )
        with locked_until_refused(world.database) as refused:
            answer = client.post(url, data=form, headers={"referer": f"/ui/w/{world.alpha}"})
        shown = answer.text
        # Neither the answer nor the next page (a flash) speaks of it outside the 503 page.
        later = client.get(f"/ui/w/{world.alpha}/logs")
        if refused:
            hit.append(path)
            if answer.status_code != 503 or answer.headers.get("Retry-After") != "10":
                wrong.append((path, answer.status_code))
            elif LOCKED not in shown:
                wrong.append((path, "the page does not say why"))
        elif LOCKED in shown:
            wrong.append((path, "said so without a refusal"))
        if LOCKED in later.text:
            wrong.append((path, "a flash on the next page"))
        form["csrf_token"] = csrf_of(later.text)
    assert wrong == [], "\n".join(map(str, wrong)) + f"\nhit: {hit}"
    # Most forms write: a test that never met the lock would prove nothing.
    assert len(hit) >= 15, hit


def test_every_ui_handler_of_halosync_errors_lets_a_busy_database_through() -> None:
    """A route catching HalosyncError shows it through ``refusal``, which raises a busy
    database again: so a new route cannot turn one into a flash by catching it."""
    folder = Path(activity.__file__).parent.parent
    unguarded = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for handler in ast.walk(tree):
            if not isinstance(handler, ast.ExceptHandler) or handler.type is None:
                continue
            caught = {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)}
            if not caught & {"HalosyncError", "Exception", "BaseException"}:
                continue
            calls = {
                n.func.id
                for n in ast.walk(handler)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            }
            if "refusal" not in calls:
                unguarded.append(f"{path.relative_to(folder)}:{handler.lineno}")
    assert unguarded == []
