"""Halo's wire format lives in ``halosync.halopsa`` only (docs/architecture.md).

Field names only Halo uses, the endpoint lines are written to and Halo's "no date"
sentinels may not be spelled anywhere else in halosync (the simulator, being Halo, may):
the planner answers typed writes and ``halopsa.billing`` translates them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import halosync

PACKAGE = Path(halosync.__file__).parent
HALO_ONLY = re.compile(
    r"""["'](ihid|_itemid|comment_2|item_shortdescription|recurring_invoice_quantity_type)["']"""
    r"|updatelines|date\(1899|1899-12-30"
)
HOMES = ("halopsa", "simulator")


def _outside_halopsa() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in HOMES
    ]


@pytest.mark.parametrize("path", _outside_halopsa(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_halopsa_spells_halos_wire_format(path: Path) -> None:
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HALO_ONLY.search(line)
    ]
    assert not found, f"Halo's wire format outside halopsa/ (use halopsa.billing): {found}"


def test_the_check_sees_the_adapter() -> None:
    """The pattern is not vacuous: the adapter and the models do spell these names."""
    adapter = (PACKAGE / "halopsa" / "billing.py").read_text(encoding="utf-8")
    models = (PACKAGE / "halopsa" / "models.py").read_text(encoding="utf-8")
    assert HALO_ONLY.search(adapter)
    assert HALO_ONLY.search(models)
