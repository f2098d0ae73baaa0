"""Switching a workspace's target (software licences ↔ recurring invoice lines).

The ledger keys what halosync wrote by target, so a switch leaves the records written
under the old target in HaloPSA exactly as they are: nothing updates them any more, and
the next sync writes the new target's records alongside. A customer could then be billed
from both, so a switch once something was written is confirmed first, with this text.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_NAMES = {"licence": "software licences", "invoice_line": "recurring invoice lines"}
RECORD_NOUNS = {
    "licence": ("licence", "licences"),
    "invoice_line": ("invoice line", "invoice lines"),
}


@dataclass(frozen=True)
class TargetSwitch:
    """A change of target made after ``written`` records were written under ``before``."""

    before: str
    after: str
    written: int

    def explanation(self) -> str:
        """What happens to the records already written, said before the switch."""
        singular, plural = RECORD_NOUNS[self.before]
        records = f"{self.written:,} {singular if self.written == 1 else plural}"
        return (
            f"Switching from {TARGET_NAMES[self.before]} to {TARGET_NAMES[self.after]}: the "
            f"{records} halosync already wrote stay in HaloPSA as they are and are no longer "
            f"updated; from the next sync it writes {TARGET_NAMES[self.after]} instead. "
            "Remove or end the old records in HaloPSA so customers are not billed twice. "
            "Switching back picks them up again."
        )


def target_switch(before: str, after: str | None, written: int) -> TargetSwitch | None:
    """The switch to confirm, or None: no change, or nothing written under ``before`` yet."""
    if after is None or after == before or written == 0:
        return None
    return TargetSwitch(before, after, written)
