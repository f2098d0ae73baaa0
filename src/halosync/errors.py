"""The base of every error a user is meant to read.

Each entry point (CLI, REST API, web UI, job) shows ``str(error)`` as it is: the message
says what is wrong and where, ``fix`` says what the user should do about it.
"""

from __future__ import annotations


class HalosyncError(Exception):
    """An error with a message fit for the user, and optionally the fix to make."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} {self.fix}" if self.fix else self.message


class NotFoundError(HalosyncError):
    """A named object does not exist (in this workspace)."""


class ValidationFailedError(HalosyncError):
    """Input was refused before anything was written."""
