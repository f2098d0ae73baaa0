"""What happens after a worker finished a run: metrics, then the opted-in emails."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from halosync.jobs.execute import RunListener, RunOutcome
from halosync.logging import get_logger
from halosync.notify.email import SmtpConfig, recipients, send_email
from halosync.notify.messages import (
    attention_email,
    failure_resolved_email,
    review_email,
    run_email,
)
from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.models import Workspace

log = get_logger(__name__)

SYNC_RUNS = Counter(
    "halosync_sync_runs",
    "Sync runs executed by this process's workers, by kind and outcome.",
    ["kind", "outcome"],
)
SYNC_RUN_SECONDS = Histogram(
    "halosync_sync_run_duration_seconds",
    "Wall-clock duration of sync runs executed by this process, by kind.",
    ["kind"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)


def count_run(outcome: RunOutcome) -> None:
    """Metrics of one finished run."""
    SYNC_RUNS.labels(kind=outcome.kind, outcome=outcome.status).inc()
    SYNC_RUN_SECONDS.labels(kind=outcome.kind).observe(outcome.duration_seconds)


class EmailListener:
    """Sends the run's completed/failed email and any attention alert, if opted in."""

    def __init__(self, database: Database, settings: Settings, config: SmtpConfig) -> None:
        self.database = database
        self.public_url = settings.public_url
        self.config = config

    def __call__(self, outcome: RunOutcome) -> None:
        with self.database.session() as session:
            workspace = session.get(Workspace, outcome.workspace_id)
            to = recipients(workspace.notify_email if workspace else None)
            if not to:
                return
            emails = [
                run_email(session, outcome.run_id, self.public_url, to),
                failure_resolved_email(session, outcome.run_id, self.public_url, to),
                attention_email(session, outcome.workspace_id, outcome.run_id, self.public_url, to),
                review_email(session, outcome.workspace_id, outcome.run_id, self.public_url, to),
            ]
        for email in emails:
            if email is not None:
                send_email(self.config, email.to, email.subject, email.body)


def default_listeners(database: Database, settings: Settings) -> tuple[RunListener, ...]:
    """Metrics always; email when ``HALOSYNC_SMTP_HOST`` is set."""
    config = SmtpConfig.from_settings(settings)
    if config is None:
        return (count_run,)
    return (count_run, EmailListener(database, settings, config))
