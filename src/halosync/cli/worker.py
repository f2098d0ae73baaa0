"""``halosync worker``: a queue consumer plus the tick, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer

from halosync.cli.app import app, state
from halosync.cli.common import open_database
from halosync.jobs.embedded import EmbeddedJobs


@app.command("worker")
def worker(
    ctx: typer.Context,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Syncs run at once by this process.")
    ] = 2,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve this process's Prometheus metrics here."),
    ] = None,
) -> None:
    """Execute queued syncs and enqueue scheduled ones (HALOSYNC_QUEUE=redis for many hosts)."""
    settings = state(ctx).settings
    database = open_database(ctx)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with EmbeddedJobs(settings, database, workers=workers):
        sys.stderr.write(
            f"halosync worker: {workers} worker(s) on the {settings.queue} queue; "
            "Ctrl-C or SIGTERM stops after the running syncs finish.\n"
        )
        sys.stderr.flush()
        while not stop.wait(1.0):
            pass
    sys.stderr.write("halosync worker: stopped.\n")
