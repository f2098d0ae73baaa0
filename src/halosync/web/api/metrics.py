"""``GET /metrics``: Prometheus metrics of this process plus run figures from the database.

Counters of Halo traffic and of runs executed are per process (workers serve their own
with ``halosync worker --metrics-port``); run totals, queue depth and recent durations
are read from the database so any web process reports the whole installation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from halosync.jobs.queue import JobQueue
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.sync.runs import run_figures
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(tags=["monitoring"], route_class=JsonBodyRoute)
RECENT = timedelta(hours=24)


class RunFigures(Collector):
    """Run counts by kind and status, queue depth and last-day durations, from the DB."""

    def __init__(self, database: Database, queue: JobQueue | None = None) -> None:
        self.database = database
        self.queue = queue

    def collect(self) -> Iterable[Metric]:
        runs = GaugeMetricFamily(
            "halosync_sync_runs_recorded",
            "Sync runs in the database (all workspaces), by kind and status.",
            labels=["kind", "status"],
        )
        depth = GaugeMetricFamily(
            "halosync_sync_queue_depth", "Sync runs queued and not yet taken by a worker."
        )
        durations = SummaryMetricFamily(
            "halosync_sync_recent_run_duration_seconds",
            "Durations of sync runs finished in the last 24 hours, by kind.",
            labels=["kind"],
        )
        with self.database.session() as session:
            figures = run_figures(session, utcnow() - RECENT)
        queued = 0
        for kind, status, count in figures.totals:
            runs.add_metric([kind, status], float(count))
            if status == "queued":
                queued += count
        depth.add_metric([], float(queued))
        for kind, values in sorted(figures.durations.items()):
            durations.add_metric([kind], count_value=len(values), sum_value=sum(values))
        yield runs
        yield depth
        yield durations
        if self.queue is not None:
            messages = GaugeMetricFamily(
                "halosync_job_queue_messages", "Messages waiting in the job queue (huey)."
            )
            try:
                messages.add_metric([], float(self.queue.pending()))
            except Exception:  # an unreachable broker must not break the scrape
                return
            yield messages


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    database: Database = request.app.state.database
    queue: JobQueue | None = getattr(request.app.state, "job_queue", None)
    figures = CollectorRegistry(auto_describe=False)
    figures.register(RunFigures(database, queue))
    body = generate_latest(REGISTRY) + generate_latest(figures)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
