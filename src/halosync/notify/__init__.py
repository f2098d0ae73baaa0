"""Notifications: sync completed/failed emails and attention alerts over SMTP."""

from __future__ import annotations

from halosync.notify.email import SmtpConfig, send_email
from halosync.notify.messages import attention_email, attention_items, review_email, run_email

__all__ = [
    "SmtpConfig",
    "attention_email",
    "attention_items",
    "review_email",
    "run_email",
    "send_email",
]
