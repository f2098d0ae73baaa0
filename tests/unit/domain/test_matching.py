from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.matching import (
    AccountName,
    ClientName,
    normalise_name,
    suggest_mappings,
)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Acme Ltd", "ACME LIMITED"),
        ("Smith & Jones, Inc.", "smith and jones incorporated"),
        ("Müller GmbH", "Muller"),
        ("Bright Sparks Pty Ltd", "Bright Sparks"),
        ("Globex Corporation", "Globex Corp."),
        ("Initech S.A.", "Initech SA"),
        ("The Widget Co", "Widget"),
        ("Hooli L.L.C.", "hooli llc"),
    ],
)
def test_normaliser_ignores_case_accents_punctuation_and_legal_suffixes(
    left: str, right: str
) -> None:
    assert normalise_name(left) == normalise_name(right)


def test_a_name_that_is_only_a_suffix_is_kept() -> None:
    assert normalise_name("Co") == "co"


suffixes = st.sampled_from(["", " Ltd", " Limited", " Inc.", " LLC", " GmbH", " Pty Ltd", " PLC"])
base_names = st.text(alphabet="abcdefghij klm", min_size=3, max_size=12).filter(
    lambda s: normalise_name(s) != ""
)


@settings(max_examples=200)
@given(base_names, suffixes, suffixes)
def test_normaliser_is_suffix_insensitive(name: str, one: str, other: str) -> None:
    assert normalise_name(name + one) == normalise_name(name.upper() + other)


def test_exact_then_fuzzy_suggestions_one_to_one() -> None:
    accounts = [
        AccountName("a1", "Acme Ltd"),
        AccountName("a2", "ACME Limited"),
        AccountName("a3", "Glbex Industries Inc"),
        AccountName("a4", "Nothing Alike"),
    ]
    clients = [ClientName(1, "Acme"), ClientName(2, "Globex Industries"), ClientName(3, "Zed")]
    got = suggest_mappings(accounts, clients, {})
    assert [(s.account_ref, s.halo_client_id, s.exact) for s in got] == [
        ("a1", 1, True),
        ("a3", 2, False),
    ]
    assert got[0].score == 100
    assert 85 <= got[1].score < 100


def test_saved_mappings_are_never_touched() -> None:
    accounts = [AccountName("a1", "Acme"), AccountName("a2", "Acme Ltd")]
    clients = [ClientName(1, "Acme"), ClientName(2, "Acme Inc")]
    assert suggest_mappings(accounts, clients, {"a1": 1}) == [
        suggest_mappings([accounts[1]], [clients[1]], {})[0]
    ]


def test_inactive_clients_are_not_suggested() -> None:
    got = suggest_mappings([AccountName("a", "Acme")], [ClientName(1, "Acme", active=False)], {})
    assert got == []


names = st.sampled_from(["Acme", "Acme Ltd", "Globex", "Globex Inc", "Initech", "Hooli", "Acne"])


@settings(max_examples=150)
@given(
    st.lists(st.tuples(st.integers(0, 30), names), max_size=12, unique_by=lambda t: t[0]),
    st.lists(st.tuples(st.integers(0, 30), names), max_size=12, unique_by=lambda t: t[0]),
    st.dictionaries(st.integers(0, 30).map(str), st.integers(0, 30), max_size=4),
    st.integers(50, 100),
)
def test_suggestions_are_one_to_one_and_respect_saved_mappings(
    account_rows: list[tuple[int, str]],
    client_rows: list[tuple[int, str]],
    saved: dict[str, int],
    min_score: int,
) -> None:
    accounts = [AccountName(str(ref), name) for ref, name in account_rows]
    clients = [ClientName(cid, name) for cid, name in client_rows]
    got = suggest_mappings(accounts, clients, saved, min_score=min_score)
    assert len({s.account_ref for s in got}) == len(got)
    assert len({s.halo_client_id for s in got}) == len(got)
    assert all(s.account_ref not in saved for s in got)
    assert all(s.halo_client_id not in saved.values() for s in got)
    assert all(min_score <= s.score <= 100 for s in got)
    assert got == suggest_mappings(accounts, clients, saved, min_score=min_score)


def test_a_tie_at_the_top_is_said_and_not_exact() -> None:
    """Two Halo clients whose names differ only by letter case or spaces both score 100:
    neither is the account's client more than the other, so the suggestion says it is a
    tie (naming both) and is not exact."""
    accounts = [AccountName("A1", "Delta Ltd"), AccountName("A2", "Echo Ltd")]
    clients = [
        ClientName(14, "delta  ltd "),
        ClientName(13, "Delta Ltd"),
        ClientName(15, "Echo Limited"),
    ]
    got = {s.account_ref: s for s in suggest_mappings(accounts, clients, {})}
    delta = got["A1"]
    assert (delta.halo_client_id, delta.score, delta.exact) == (13, 100, False)
    assert delta.tied_with == (14,)
    assert delta.tie
    echo = got["A2"]
    assert (echo.exact, echo.tied_with, echo.tie) == (True, (), False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), names), max_size=12, unique_by=lambda t: t[0]),
    st.lists(st.tuples(st.integers(0, 30), names), max_size=12, unique_by=lambda t: t[0]),
)
def test_a_suggestion_is_tied_exactly_when_another_client_scores_as_high(
    account_rows: list[tuple[int, str]], client_rows: list[tuple[int, str]]
) -> None:
    accounts = [AccountName(str(ref), name) for ref, name in account_rows]
    clients = [ClientName(cid, name) for cid, name in client_rows]
    for suggestion in suggest_mappings(accounts, clients, {}, min_score=50):
        assert suggestion.halo_client_id not in suggestion.tied_with
        assert not (suggestion.tie and suggestion.exact)
        # Every client named as tied scores as high for this account on its own.
        for other in suggestion.tied_with:
            alone = suggest_mappings(
                [AccountName(suggestion.account_ref, suggestion.account_name)],
                [c for c in clients if c.halo_client_id == other],
                {},
                min_score=50,
            )
            assert [s.score for s in alone] == [suggestion.score]
