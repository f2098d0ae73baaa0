"""The snapshot rule: when a full list may cancel subscriptions without the operator's word."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.snapshot import DEFAULT_CANCEL_LIMIT_PERCENT, mass_cancel

_COUNTS = st.integers(0, 100_000)
_LIMITS = st.integers(0, 100)


@given(active=_COUNTS, listed=_COUNTS, limit=_LIMITS, data=st.data())
def test_the_rule(active: int, listed: int, limit: int, data: st.DataObject) -> None:
    would_cancel = data.draw(st.integers(0, active))
    refusal = mass_cancel(
        would_cancel=would_cancel, active=active, listed=listed, limit_percent=limit
    )
    if would_cancel == 0:
        assert refusal is None  # cancelling nothing is never held back
    elif listed == 0:
        assert refusal is not None
        assert refusal.reason == "empty"  # an empty list, whatever the limit
    elif would_cancel / active > limit / 100:
        assert refusal is not None
        assert refusal.reason == "share"
        assert refusal.percent > limit
    else:
        assert refusal is None
    if refusal is not None:
        assert (refusal.would_cancel, refusal.active, refusal.limit_percent) == (
            would_cancel,
            active,
            limit,
        )


@given(active=st.integers(1, 100_000), data=st.data())
def test_a_limit_of_100_holds_back_only_an_empty_list(active: int, data: st.DataObject) -> None:
    would_cancel = data.draw(st.integers(1, active))
    assert (
        mass_cancel(would_cancel=would_cancel, active=active, listed=1, limit_percent=100) is None
    )
    refusal = mass_cancel(would_cancel=would_cancel, active=active, listed=0, limit_percent=100)
    assert refusal is not None


def test_the_default_is_half_and_exactly_half_passes() -> None:
    assert DEFAULT_CANCEL_LIMIT_PERCENT == 50
    assert mass_cancel(would_cancel=2, active=4, listed=2, limit_percent=50) is None
    assert mass_cancel(would_cancel=3, active=4, listed=1, limit_percent=50) is not None
    assert mass_cancel(would_cancel=1, active=1000, listed=999, limit_percent=0) is not None
