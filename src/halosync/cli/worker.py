"""``halosync worker`` (a queue consumer, plus the tick) and ``halosync scheduler`` (the tick).

Both run until SIGTERM or Ctrl-C. Every process that ticks enqueues due scheduled runs,
reaps dead runs and prunes old log entries; the database makes each slot run once
however many processes tick.
"""

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

MetricsPortOption = Annotated[
    int | None,
    typer.Option("--metrics-port", help="Serve this process's Prometheus metrics here."),
]


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def _serve_metrics(port: int | None) -> None:
    if port is not None:
        from prometheus_client import start_http_server

        start_http_server(port, addr="127.0.0.1")


@app.command("worker")
def worker(
    ctx: typer.Context,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Syncs run at once by this process.")
    ] = 2,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule/--no-schedule",
            help="Also tick: enqueue scheduled runs, reap dead runs (leave it to "
            "`halosync scheduler` with --no-schedule).",
        ),
    ] = True,
    metrics_port: MetricsPortOption = None,
) -> None:
    """Execute queued syncs and enqueue scheduled ones (HALOSYNC_QUEUE=redis for many hosts)."""
    settings = state(ctx).settings
    database = open_database(ctx)
    _serve_metrics(metrics_port)
    stop = _stop_event()
    with EmbeddedJobs(settings, database, workers=workers, tick=schedule):
        ticking = "" if schedule else ", not ticking"
        sys.stderr.write(
            f"halosync worker: {workers} worker(s) on the {settings.queue} queue{ticking}; "
            "Ctrl-C or SIGTERM stops after the running syncs finish.\n"
        )
        sys.stderr.flush()
        while not stop.wait(1.0):
            pass
    sys.stderr.write("halosync worker: stopped.\n")


@app.command("scheduler")
def scheduler(ctx: typer.Context, metrics_port: MetricsPortOption = None) -> None:
    """Only tick: enqueue scheduled runs, reap dead runs, prune old logs; execute nothing.

    For workers started with --no-schedule (scaled freely, even to zero). Two schedulers
    are safe: the database lets each scheduled slot through once.
    """
    settings = state(ctx).settings
    database = open_database(ctx)
    _serve_metrics(metrics_port)
    stop = _stop_event()
    with EmbeddedJobs(settings, database, consume=False):
        sys.stderr.write(
            f"halosync scheduler: ticking every {settings.jobs_tick_seconds:g} s on the "
            f"{settings.queue} queue; Ctrl-C or SIGTERM stops it.\n"
        )
        sys.stderr.flush()
        while not stop.wait(1.0):
            pass
    sys.stderr.write("halosync scheduler: stopped.\n")
