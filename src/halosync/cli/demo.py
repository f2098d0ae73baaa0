"""``halosync demo``: the bundled simulator, sample vendor data and the whole journey."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from halosync.cli.app import app, state
from halosync.demo.journey import DEMO_WORKSPACE, demo_application, run_journey
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
        bool, typer.Option("--once", help="Stop after the journey instead of serving on.")
    ] = False,
) -> None:
    """Run the whole journey on SQLite against the bundled HaloPSA simulator.

    Starts a simulator seeded with realistic clients, items and recurring invoices, imports
    sample vendor data whose names differ from Halo's, then connects, pulls, maps, previews,
    syncs, repeats and reconciles, printing each step. A fresh demo database each start.
    """
    if target not in ("licence", "invoice_line"):
        raise typer.BadParameter("must be licence or invoice_line", param_hint="--target")
    cli_settings = state(ctx).settings
    database_path: Path | None = None
    updates: dict[str, object] = {"allow_private_networks": True}
    if not cli_settings.database_url:
        database_path = cli_settings.ensure_data_dir() / DEMO_DATABASE
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database_path}{suffix}").unlink(missing_ok=True)
        updates["database_url"] = f"sqlite:///{database_path}"
    # The demo's Halo is on loopback over plain http: allow it for this process only.
    settings = cli_settings.model_copy(update=updates)
    console = Console(highlight=False)
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
            if once:
                return
            env = "HALOSYNC_ALLOW_PRIVATE_NETWORKS=true"
            if database_path is not None:
                env += f" HALOSYNC_DATABASE_URL=sqlite:///{database_path}"
            console.print(
                "\nThe simulator keeps running; explore with, for example:\n"
                f"  {env} halosync map list\n"
                f"  {env} halosync sync usage --dry-run\n"
                f"  {env} halosync logs\n"
                f"  {env} halosync reconcile\n"
                f"(workspace {DEMO_WORKSPACE!r}). Press Ctrl+C to stop."
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        database.dispose()
