"""One rule for showing stored text: every character the plain-text rule refuses is written
as JSON escapes it, so nothing shown can break a line, reorder the text or drive a terminal."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.text import escaped, text_problem


@given(st.text())
def test_escaped_text_is_plain_and_plain_text_is_left_alone(text: str) -> None:
    shown = escaped(text)
    assert text_problem(shown) is None
    if text_problem(text) is None:
        assert shown == text


@given(st.text(alphabet=st.characters(exclude_characters='\\"\t', exclude_categories=["Cs"])))
def test_escaped_text_reads_back_as_json_reads_it(text: str) -> None:
    assert json.loads(f'"{escaped(text)}"') == text


def test_the_escapes_people_know() -> None:
    assert escaped("Acme\u202eDTL") == "Acme\\u202eDTL"
    assert escaped("evil\r\nBcc: x") == "evil\\r\\nBcc: x"
    assert escaped("a\x1b[2Jb\u2028c") == "a\\u001b[2Jb\\u2028c"
    assert escaped("two\nlines\u202e", keep_line_breaks=True) == "two\nlines\\u202e"
    assert escaped("a\tb \u200f") == "a\tb \u200f"  # tabs and right-to-left marks are text
