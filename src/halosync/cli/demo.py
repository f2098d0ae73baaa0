"""``halosync demo``: the bundled simulator, sample vendor data and the whole journey."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from halosync.cli.app import app, state
from halosync.database_url import sqlite_url
from halosync.demo.journey import DEMO_WORKSPACE, demo_application, run_journey
from halosync.jobs.queue import embedded_queue_path
from halosync.settings import Settings
from halosync.simulator import SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread
from halosync.store.crypto import SecretBox
from halosync.store.database import Database

DEMO_DATABASE = "demo.db"


@app.command("demo")
def demo(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Where the bundled HaloPSA simulator listens.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Simulator port (0 picks a free one).")] = 8765,
    clients: Annotated[int, typer.Option(min=1, max=5000, help="Halo clients to seed.")] = 25,
    target: Annotated[
        str, typer.Option(help="Where counts land: licence or invoice_line.")
    ] = "licence",
    once: Annotated[
        bool,
        typer.Option("--once", help="Walk the whole journey in the terminal and stop (no web UI)."),
    ] = False,
    web_port: Annotated[
        int, typer.Option("--web-port", help="Web UI port (0 picks a free one).")
    ] = 8000,
    admin_password: Annotated[
        str | None,
        typer.Option(
            "--admin-password",
            envvar="HALOSYNC_DEMO_ADMIN_PASSWORD",
            help="Password of the demo admin (default: a random one, printed).",
        ),
    ] = None,
) -> None:
    """Start the web UI, the job consumer and a seeded HaloPSA simulator on SQLite.

    Imports sample vendor data whose names differ from Halo's, creates the first admin and
    prints the URL, the log-in and the simulator's server URL, client ID and secret to
    paste into the setup wizard. With --once it instead walks the whole journey in the
    terminal (connect, pull, map, preview, sync, repeat, reconcile) and stops. A fresh demo
    database each start.
    """
    if target not in ("licence", "invoice_line"):
        raise typer.BadParameter("must be licence or invoice_line", param_hint="--target")
    cli_settings = state(ctx).settings
    database_path: Path | None = None
    updates: dict[str, object] = {"allow_private_networks": True}
    if not cli_settings.database_url:
        database_path = cli_settings.ensure_data_dir() / DEMO_DATABASE
        # A fresh demo each start: its database and the queue of the runs it held.
        for stale in (database_path, embedded_queue_path(cli_settings)):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{stale}{suffix}").unlink(missing_ok=True)
        updates["database_url"] = sqlite_url(database_path)
    # The demo's Halo is on loopback over plain http: allow it for this process only.
    settings = cli_settings.model_copy(update=updates)
    console = Console(highlight=False)
    if not once:
        _serve_web_demo(
            settings,
            console,
            host=host,
            halo_port=port,
            web_port=web_port,
            clients=clients,
            target=target,
            admin_password=admin_password,
        )
        return
    application = demo_application()
    seed = generate_demo_seed(clients=clients, seed=0)
    simulator = create_app(SimulatorConfig(applications=[application]))
    simulator.state.seed(seed)
    database = Database(settings.resolved_database_url)
    box = SecretBox.from_settings(settings)
    try:
        with serve_in_thread(simulator, host=host, port=port) as server_url:
            console.print(f"[bold]HaloPSA simulator[/] at {server_url} ({clients} clients)")
            console.print(f"[bold]Database[/] {database_path or settings.resolved_database_url}")
            started = time.monotonic()
            asyncio.run(
                run_journey(
                    database,
                    box,
                    settings,
                    server_url=server_url,
                    application=application,
                    halo_seed=seed,
                    target=target,
                    say=lambda step, text: console.print(f"[green]✔[/] [bold]{step}[/]: {text}"),
                )
            )
            console.print(f"Done in {time.monotonic() - started:.1f} s.")
    finally:
        database.dispose()


def _serve_web_demo(
    settings: Settings,
    console: Console,
    *,
    host: str,
    halo_port: int,
    web_port: int,
    clients: int,
    target: str,
    admin_password: str | None,
) -> None:
    """Serve the web UI with the simulator and the jobs until Ctrl+C."""
    try:
        # The web stack loads only for the command that serves it (CLI start-up stays quick).
        from halosync.demo.web import run_demo_site

        with run_demo_site(
            settings,
            host=host,
            halo_port=halo_port,
            web_port=web_port,
            clients=clients,
            target=target,
            admin_password=admin_password,
        ) as site:
            console.print(f"[bold]halosync web UI[/]   {site.url}/ui")
            console.print(f"  log in as        {site.admin_email}")
            console.print(f"  password         {site.admin_password}")
            console.print(
                f"[bold]HaloPSA simulator[/] ({clients} clients) — paste into the setup wizard:"
            )
            console.print(f"  Server Address   {site.halo_url}")
            console.print(f"  Client ID        {site.client_id}")
            console.print(f"  Client Secret    {site.client_secret}")
            console.print(
                f"Workspace {DEMO_WORKSPACE!r} has sample vendor data imported. "
                "Press Ctrl+C to stop.",
                soft_wrap=True,
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopped.")
