"""``halosync simulator``: run the HaloPSA simulator on a local port until interrupted."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

import typer

from halosync.cli.app import app, echo
from halosync.errors import HalosyncError
from halosync.logging import register_secret
from halosync.ops.listen import bind_port
from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.config import RETRY_AFTER_AUTO
from halosync.simulator.scopes import unknown_scopes
from halosync.simulator.server import serve_forever

# What halosync needs for both targets (licence and invoice_line), and nothing more.
DEFAULT_SCOPES = ("read:customers", "read:items", "edit:invoices", "edit:softwarelicensing")


def parse_app_option(value: str) -> ApiApplication:
    """``CLIENT_ID:CLIENT_SECRET:SCOPE[,SCOPE...]`` -> an API application."""
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(part.strip() for part in parts):
        # The value may hold a secret, so the message names only the client id part.
        raise ValueError(
            f"--app for client id {parts[0]!r}: expected CLIENT_ID:CLIENT_SECRET:SCOPE[,SCOPE...]"
        )
    client_id, client_secret, scope_text = (part.strip() for part in parts)
    register_secret(client_secret, keep=True)
    scopes = tuple(scope for scope in scope_text.replace(" ", ",").split(",") if scope)
    bad = unknown_scopes(scopes)
    if bad:
        raise ValueError(f"--app {client_id}: unknown scope(s) {', '.join(bad)}")
    return ApiApplication(client_id=client_id, client_secret=client_secret, scopes=scopes)


def _is_retry_after(value: str) -> bool:
    text = value.strip()
    return text == RETRY_AFTER_AUTO or (text.isascii() and text.isdigit())


def _default_application() -> ApiApplication:
    # Halo's shapes: the client id is a GUID, the secret two GUIDs joined by "-".
    return ApiApplication(
        client_id=str(uuid.uuid4()),
        client_secret=f"{uuid.uuid4()}-{uuid.uuid4()}",
        scopes=DEFAULT_SCOPES,
    )


@app.command("simulator")
def run_simulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8765,
    apps: Annotated[
        list[str] | None,
        typer.Option(
            "--app",
            help="An API application CLIENT_ID:CLIENT_SECRET:SCOPE[,SCOPE...]; repeatable.",
        ),
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="Act as a hosted instance that requires this tenant.")
    ] = None,
    rate_limit: Annotated[
        int, typer.Option(help="Requests allowed per rolling window (see --rate-window).")
    ] = 300,
    rate_window: Annotated[
        float, typer.Option(help="Length of the rolling rate-limit window, in seconds.")
    ] = 300.0,
    retry_after: Annotated[
        str | None,
        typer.Option(
            help="Send 'Retry-After: SECONDS' with every 429 ('auto': the seconds until the "
            "window frees). Default: no Retry-After, as real Halo is not known to send one.",
        ),
    ] = None,
    detail_permission_status: Annotated[
        int,
        typer.Option(
            help="Status for a missing permission on GET/DELETE /api/<Entity>/<id>: 403, or "
            "401 as real Halo answers on detail endpoints.",
        ),
    ] = 403,
    seed: Annotated[
        str | None, typer.Option(help="JSON seed file (docs/simulator.md); default: demo data.")
    ] = None,
    demo_clients: Annotated[
        int, typer.Option(help="How many demo clients to generate when --seed is not given.")
    ] = 25,
) -> None:
    """Run the HaloPSA simulator until interrupted."""
    try:
        applications = [parse_app_option(value) for value in apps or []]
    except ValueError as error:
        raise HalosyncError(str(error)) from None
    printed_default = not applications
    if printed_default:
        applications = [_default_application()]
    if rate_limit < 1:
        raise HalosyncError(f"--rate-limit must be at least 1, got {rate_limit}")
    if not math.isfinite(rate_window) or rate_window <= 0:
        raise HalosyncError(f"--rate-window must be positive, got {rate_window:g}")
    if retry_after is not None and not _is_retry_after(retry_after):
        raise HalosyncError(
            f"--retry-after must be a whole number of seconds or 'auto', got {retry_after!r}"
        )
    if detail_permission_status not in (401, 403):
        raise HalosyncError(
            f"--detail-permission-status must be 401 or 403, got {detail_permission_status}"
        )
    if tenant is not None and not tenant.strip():
        raise HalosyncError("--tenant must not be blank")
    simulator = create_app(
        SimulatorConfig(
            applications=applications,
            tenant=tenant,
            rate_limit=rate_limit,
            rate_window_seconds=rate_window,
            retry_after=retry_after.strip() if retry_after else None,
            detail_permission_status=detail_permission_status,
        )
    )
    try:
        if seed:
            counts = simulator.state.seed_file(seed)
        else:
            counts = simulator.state.seed(generate_demo_seed(clients=demo_clients, seed=0))
    except ValueError as error:
        raise HalosyncError(str(error)) from None
    sock = bind_port(host, port)
    port = sock.getsockname()[1]
    base = f"http://{host}:{port}"
    echo(f"HaloPSA simulator on {base}")
    echo(f"  resource server: {base}/api")
    echo(f"  authorisation server: {base}/auth")
    echo(f"  tenant: {tenant or 'Not set'}")
    echo(
        f"  rate limit: {rate_limit} requests per rolling {rate_window:g} s window, "
        f"Retry-After: {retry_after or 'none'}"
    )
    if detail_permission_status == 401:
        echo("  a missing permission on /api/<Entity>/<id> answers 401, as real Halo does")
    echo("  records: " + ", ".join(f"{key} {count}" for key, count in counts.items()))
    if printed_default:
        default = applications[0]
        echo("  default API application:")
        echo(f"    client id: {default.client_id}")
        echo(f"    client secret: {default.client_secret}")
        echo(f"    scopes: {' '.join(default.scopes)}")
    else:
        for application in applications:
            echo(f"  API application {application.client_id}: {' '.join(application.scopes)}")
    echo("Press Ctrl-C to stop.", nl=True)
    serve_forever(simulator, sock)
