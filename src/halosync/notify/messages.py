"""What the emails say: a run's outcome with counts and a log link, and attention alerts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from halosync.domain.terms import service_label
from halosync.store import attention
from halosync.store.models import (
    Workspace,
)
from halosync.sync.review import held_in_run
from halosync.sync.runs import find_run

_KIND_TITLES = {"customers": "Customers sync", "usage": "Subscriptions sync"}
MAX_LISTED = 50


@dataclass(frozen=True)
class Email:
    """One email to send."""

    to: list[str]
    subject: str
    body: str


def log_link(public_url: str, workspace_id: int, run_id: int) -> str:
    """The web UI's log page filtered to one run."""
    return f"{public_url.rstrip('/')}/ui/w/{workspace_id}/logs?run={run_id}"


def run_email(session: Session, run_id: int, public_url: str, to: list[str]) -> Email | None:
    """The completed/failed email of a run, or None if the workspace did not opt in."""
    run = find_run(session, run_id)
    if run is None or run.dry_run or run.active:
        return None
    workspace = session.get(Workspace, run.workspace_id)
    if workspace is None:
        return None
    succeeded = run.status == "succeeded"
    if not (workspace.notify_on_success if succeeded else workspace.notify_on_failure):
        return None
    if not succeeded:
        # The same failure every run is one e-mail, until it changes or is fixed.
        said = _digest(run.status, run.error or "")
        if not _remember(workspace, f"failure:{run.kind}", said):
            return None
    title = _KIND_TITLES.get(run.kind, "Sync")
    outcome = "completed" if succeeded else run.status
    counts = run.counts
    lines = [
        f"{title} {outcome} for workspace {workspace.name} (provider HALO, run {run.id}).",
        "",
        "Counts: " + (", ".join(f"{key} {value}" for key, value in counts.items()) or "none"),
    ]
    if run.started_at and run.finished_at:
        seconds = (run.finished_at - run.started_at).total_seconds()
        lines.append(f"Duration: {seconds:.1f} s")
    if run.error:
        lines += ["", f"Reason: {run.error}"]
    lines += ["", f"Log: {log_link(public_url, workspace.id, run.id)}"]
    return Email(to, f"[halosync] {title} {outcome}: {workspace.name}", "\n".join(lines))


def attention_items(session: Session, workspace_id: int) -> list[str]:
    """Why billing may silently go wrong: unmapped billable accounts, dead Halo records."""
    items: list[str] = []
    unmapped = attention.unmapped_billable_accounts(session, workspace_id)
    items += [
        f"account {ref} has billable usage but is not mapped to a HaloPSA client"
        for ref in unmapped
    ]
    clients = attention.mapped_to_dead_clients(session, workspace_id)
    items += [
        f"account {ref} is mapped to HaloPSA client '{name}' ({halo_id}), which "
        + ("no longer exists" if gone else "is inactive")
        for ref, name, halo_id, gone in clients
    ]
    invoices = attention.mapped_to_dead_invoices(session, workspace_id)
    items += [
        f"account {ref} is mapped to recurring invoice {halo_id}, which "
        + ("no longer exists" if gone else "is inactive")
        for ref, halo_id, gone in invoices
    ]
    return items


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _remember(workspace: Workspace, topic: str, digest: str | None) -> bool:
    """Record that ``digest`` (None: nothing) is what was last e-mailed about ``topic``;
    False when it already was (nothing new to send)."""
    state = dict(workspace.notify_state or {})
    if state.get(topic) == digest:
        return False
    if digest is None:
        state.pop(topic, None)
    else:
        state[topic] = digest
    workspace.notify_state = state
    return True


def failure_resolved_email(
    session: Session, run_id: int, public_url: str, to: list[str]
) -> Email | None:
    """After failure e-mails, the first run of that kind that succeeds says it is fixed."""
    run = find_run(session, run_id)
    if run is None or run.dry_run or run.active or run.status != "succeeded":
        return None
    workspace = session.get(Workspace, run.workspace_id)
    if workspace is None or not (workspace.notify_state or {}).get(f"failure:{run.kind}"):
        return None
    _remember(workspace, f"failure:{run.kind}", None)
    if not workspace.notify_on_failure:
        return None
    title = _KIND_TITLES.get(run.kind, "Sync")
    lines = [
        f"{title} succeeded again for workspace {workspace.name} (run {run.id}): the failure "
        "e-mailed before is resolved.",
        "",
        f"Log: {log_link(public_url, workspace.id, run.id)}",
    ]
    return Email(to, f"[halosync] Resolved: {title} {workspace.name}", "\n".join(lines))


def attention_email(
    session: Session, workspace_id: int, run_id: int, public_url: str, to: list[str]
) -> Email | None:
    """An alert listing what needs attention, or None when all is well or not opted in."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None or not workspace.notify_on_failure:
        return None
    items = attention_items(session, workspace_id)
    previous = (workspace.notify_state or {}).get("attention")
    # The same list every run is one e-mail, until it changes or is cleared.
    if not _remember(workspace, "attention", _digest(*items) if items else None):
        return None
    if not items:
        if previous is None:
            return None
        return Email(
            to,
            f"[halosync] Resolved: nothing needs attention in {workspace.name}",
            f"Workspace {workspace.name}: what the last attention e-mail listed is resolved; "
            "no account is about to drop out of billing.\n\n"
            f"Log: {log_link(public_url, workspace_id, run_id)}",
        )
    shown = items[:MAX_LISTED]
    lines = [
        f"Workspace {workspace.name}: {len(items)} account(s) may drop out of billing.",
        "",
        *(f"- {item}" for item in shown),
    ]
    if len(items) > len(shown):
        lines.append(f"- and {len(items) - len(shown)} more")
    lines += ["", f"Log: {log_link(public_url, workspace_id, run_id)}"]
    return Email(to, f"[halosync] Attention needed: {workspace.name}", "\n".join(lines))


def review_link(public_url: str, workspace_id: int) -> str:
    """The web UI's Review page."""
    return f"{public_url.rstrip('/')}/ui/w/{workspace_id}/review"


def review_email(
    session: Session, workspace_id: int, run_id: int, public_url: str, to: list[str]
) -> Email | None:
    """The changes this run held for review (first held by it); None when there are none or
    the workspace did not opt in to hearing about problems (``notify_on_failure``)."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None or not workspace.notify_on_failure:
        return None
    held = held_in_run(session, workspace_id, run_id)
    if not held:
        return None
    shown = held[:MAX_LISTED]
    lines = [
        f"Workspace {workspace.name}: {len(held)} change(s) were held for review and not "
        "written to HaloPSA. Approve or reject them:",
        "",
        *(
            f"- {item.account_ref} / {service_label(item.service_ref, item.term)}, "
            f"{item.halo_record}: {item.change} "
            f"({item.why})"
            for item in shown
        ),
    ]
    if len(held) > len(shown):
        lines.append(f"- and {len(held) - len(shown)} more")
    lines += ["", f"Review: {review_link(public_url, workspace_id)}"]
    return Email(to, f"[halosync] Changes held for review: {workspace.name}", "\n".join(lines))
