"""Sending email over SMTP (optionally STARTTLS and log-in) with the password kept secret."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from halosync.domain.text import escaped
from halosync.errors import HalosyncError
from halosync.logging import get_logger, redact_text, register_secret
from halosync.settings import Settings

log = get_logger(__name__)
SMTP_TIMEOUT_SECONDS = 20.0


class EmailDeliveryError(HalosyncError):
    """The SMTP server refused or could not be reached."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send (from ``HALOSYNC_SMTP_*``)."""

    host: str
    port: int = 25
    sender: str = "halosync@localhost"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The configuration, or None when no SMTP host is set (email is off)."""
        if not settings.smtp_host:
            return None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        register_secret(password, keep=True)
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=password,
            starttls=settings.smtp_starttls,
        )


def send_email(config: SmtpConfig, to: list[str], subject: str, body: str) -> None:
    """Send one plain-text email to ``to``; raises :class:`EmailDeliveryError`."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(to)
    # A name in it kept from before CR/LF was refused would make the header unbuildable.
    message["Subject"] = escaped(subject)
    message.set_content(body)
    try:
        with smtplib.SMTP(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user and config.password:
                smtp.login(config.user, config.password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise EmailDeliveryError(
            f"Email to {', '.join(to)} via {config.host}:{config.port} failed: "
            + redact_text(str(error)),
            fix="Check HALOSYNC_SMTP_HOST/PORT/USER/PASSWORD/STARTTLS.",
        ) from None
    log.info("email_sent", to=to, subject=subject)


def recipients(text: str | None) -> list[str]:
    """Addresses from a workspace's ``notify_email`` (comma or semicolon separated)."""
    if not text:
        return []
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
