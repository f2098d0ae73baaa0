"""``halosync serve``: the web app (UI + REST API + /metrics) and the jobs in one process."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from halosync.cli.app import app, state
from halosync.cli.common import open_database
from halosync.jobs.embedded import EmbeddedJobs
from halosync.ops.listen import bind_port


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Syncs run at once in this process.")
    ] = 2,
    jobs: Annotated[
        bool,
        typer.Option("--jobs/--no-jobs", help="Run queued and scheduled syncs in this process."),
    ] = True,
) -> None:
    """Serve halosync; with the embedded queue nothing else needs to run."""
    settings = state(ctx).settings
    database = open_database(ctx)
    # The web stack loads only for the command that serves it (CLI start-up stays quick).
    import uvicorn

    from halosync.web.app import create_app

    web = create_app(settings, database=database)
    # Bound before it is announced: a busy port is one line at once, not uvicorn's later.
    sock = bind_port(host, port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning"))
    sys.stderr.write(f"halosync serving on http://{host}:{port} ({settings.queue} queue)\n")
    sys.stderr.flush()
    # uvicorn re-raises the signal that stopped it once it restored the previous handler;
    # with this one in place that ends uvicorn.run (exit status 0 for a service manager),
    # and the jobs, if any, stop gracefully after it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    if not jobs:
        server.run(sockets=[sock])
        sys.stderr.write("halosync stopped.\n")
        return
    with EmbeddedJobs(settings, database, workers=workers) as running:
        web.state.job_queue = running.queue
        server.run(sockets=[sock])
    sys.stderr.write("halosync stopped.\n")


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    return None
