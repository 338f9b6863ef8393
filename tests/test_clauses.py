"""The incremental clause splitter: clauses come out as soon as they are decided."""

from __future__ import annotations

import pytest

from neuraldrive_audio.media.clauses import ClauseSplitter, ends_mid_phrase, split_first_clause
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


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # The first comma far enough in cuts; later ones are the rest's business.
        (
            "Welcome to the evening news, where tonight we look at the storm, and the rain.",
            ["Welcome to the evening news,", "where tonight we look at the storm, and the rain."],
        ),
        # "Well," is too short to be spoken alone: the next break is taken.
        (
            "Well, the museum is open every day of the week; it closes on public holidays.",
            ["Well, the museum is open every day of the week;", "it closes on public holidays."],
        ),
        # No break in a long sentence: cut before a conjunction below the limit, not a
        # preposition ("nobody | in the town"), and never inside a word.
        (
            "The price rose sharply yesterday and nobody in the whole town could believe "
            "what had happened there.",
            ["The price rose sharply yesterday",
             "and nobody in the whole town could believe what had happened there."],
        ),
        # Short sentences, and a rest too short to be worth a seam, stay whole.
        ("The library opens at nine.", ["The library opens at nine."]),
        ("Bring water for everyone, please.", ["Bring water for everyone, please."]),
        # Numbers, decimals and abbreviations are no breaks.
        (
            "Dr. Smith paid 1,250 dollars for 3.5 tons, which was more than anybody expected.",
            ["Dr. Smith paid 1,250 dollars for 3.5 tons,", "which was more than anybody expected."],
        ),
    ],
)  # fmt: skip
def test_split_first_clause(sentence: str, expected: list[str]) -> None:
    assert split_first_clause(sentence) == expected


def test_first_clause_stays_below_the_limit_without_any_break() -> None:
    sentence = " ".join(["word"] * 40) + "."
    first, rest = split_first_clause(sentence, max_chars=60)
    assert len(first) <= 60 and f"{first} {rest}" == sentence
    assert ends_mid_phrase(first) and not ends_mid_phrase(rest)


def test_a_break_past_the_limit_is_not_taken() -> None:
    sentence = "One two three four five six seven eight nine ten eleven twelve, and thirteen more."
    first, _ = split_first_clause(sentence, max_chars=40)
    assert len(first) <= 40


@pytest.mark.parametrize(
    ("piece", "mid_phrase"),
    [("next year", True), ("the news,", False), ('he said "stop."', False), ("(see above)", True)],
)
def test_ends_mid_phrase(piece: str, mid_phrase: bool) -> None:
    assert ends_mid_phrase(piece) is mid_phrase
