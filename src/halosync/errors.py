"""The base of every error a user is meant to read.

Each entry point (CLI, REST API, web UI, job) shows ``str(error)`` as it is: the message
says what is wrong and where, ``fix`` says what the user should do about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Audience = Literal["api", "ui"]
"""Who reads an error besides the CLI (whose terms ``fix`` is in)."""


class HalosyncError(Exception):
    """An error with a message fit for the user, and optionally the fix to make.

    ``message`` is said in terms every caller shares (no CLI flags, no routes). ``fix`` is
    in the CLI's terms; ``fixes`` says it for the REST API and the web UI where their terms
    differ (``--invoice`` is ``recurring_invoice_id`` to an API caller and the invoice
    picker to a browser user).
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        fixes: Mapping[Audience, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.fixes: dict[Audience, str] = dict(fixes or {})

    def fix_for(self, audience: Audience) -> str | None:
        """The fix in ``audience``'s terms."""
        return self.fixes.get(audience, self.fix)

    def text_for(self, audience: Audience) -> str:
        """The whole sentence as ``audience`` reads it."""
        return _sentences(self.message, self.fix_for(audience))

    def __str__(self) -> str:
        return _sentences(self.message, self.fix)

    def __reduce__(self) -> tuple[object, ...]:
        # Whatever a subclass's __init__ takes: an import run in a child process hands its
        # refusal back to the web process as it was raised (every attribute kept).
        return (_restore, (type(self), self.args, self.__dict__))


def _sentences(message: str, fix: str | None) -> str:
    """``message`` and then ``fix``, each its own sentence: a message said without a full
    stop ("monthly schedule day 29 is not allowed") gets one before the fix."""
    if not fix:
        return message
    stop = "" if message.rstrip().endswith((".", "!", "?", ":")) else "."
    return f"{message.rstrip()}{stop} {fix}"


def _restore(
    kind: type[HalosyncError], args: tuple[object, ...], state: dict[str, object]
) -> HalosyncError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class NotFoundError(HalosyncError):
    """A named object does not exist (in this workspace)."""


class ValidationFailedError(HalosyncError):
    """Input was refused before anything was written."""
