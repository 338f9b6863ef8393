"""The incremental clause splitter: clauses come out as soon as they are decided."""

from __future__ import annotations

import pytest

from neuraldrive_audio.media.clauses import ClauseSplitter
from tests.llm_stand_in import tokens


def _split(text: str, **kwargs: int) -> list[tuple[int, str]]:
    """(index of the token that completed it, clause) for every clause of ``text``."""
    splitter = ClauseSplitter(**kwargs)
    pieces = tokens(text)
    out = [(i, c) for i, token in enumerate(pieces) for c in splitter.feed(token)]
    return out + [(len(pieces), c) for c in splitter.flush()]


def test_first_sentence_comes_out_on_the_next_token() -> None:
    text = "Sure! The train leaves at nine. It is on time."
    pieces = tokens(text)
    result = _split(text)
    assert [c for _, c in result] == ["Sure!", "The train leaves at nine.", "It is on time."]
    # "Sure!" is decided by the first character after it, i.e. the token " The".
    assert pieces[result[0][0]] == " The"
    assert result[-1][0] == len(pieces)  # the last one only when the stream ends


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith will see you at 3.5 past the hour.",
        "Bring fruit, e.g. apples or pears, and water.",
        "J. R. R. Tolkien wrote it in the U.S. Army years.",
        "The price rose to $1,250.75 yesterday.",
        "Wait... what happened next?",
    ],
)
def test_abbreviations_and_numbers_do_not_cut(text: str) -> None:
    assert [c for _, c in _split(text, min_clause_chars=1000)] == [text]


def test_long_clause_is_cut_at_its_comma_short_one_is_not() -> None:
    text = "Well, the museum is open every day of the week, except on public holidays."
    assert [c for _, c in _split(text)] == [
        "Well, the museum is open every day of the week,",
        "except on public holidays.",
    ]


def test_line_breaks_end_list_items() -> None:
    text = "You need three things:\n1. A ticket\n2. A passport\n3. Patience"
    assert [c for _, c in _split(text)] == [
        "You need three things:",
        "1. A ticket",
        "2. A passport",
        "3. Patience",
    ]


def test_text_without_breaks_is_cut_below_the_limit() -> None:
    text = " ".join(["word"] * 100)
    clauses = [c for _, c in _split(text, max_clause_chars=60)]
    assert all(len(c) <= 60 for c in clauses)
    assert " ".join(clauses) == text


def test_nothing_is_lost_and_punctuation_only_is_not_a_clause() -> None:
    text = 'He said "stop." Then: nothing... "OK?" ... And that was it!'
    clauses = [c for _, c in _split(text, min_clause_chars=5)]
    assert "".join(clauses).replace(" ", "") == text.replace(" ", "")
    assert all(any(ch.isalnum() for ch in c) for c in clauses)


def test_empty_and_whitespace_give_no_clause() -> None:
    splitter = ClauseSplitter()
    assert splitter.feed("   ") == []
    assert splitter.feed("\n") == []
    assert splitter.flush() == []
