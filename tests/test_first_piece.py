"""A live reply's first spoken piece chosen by length: its first 4-8 words."""

from __future__ import annotations

import pytest

from neuraldrive_audio.media.clauses import FIRST_PIECE_WORDS, ClauseSplitter, ends_mid_phrase
from tests.llm_stand_in import DEFAULT_REPLY, tokens


def _split(text: str) -> list[tuple[int, str]]:
    """(index of the token that completed it, clause) with the first piece by length."""
    splitter = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS)
    pieces = tokens(text)
    out = [(i, c) for i, token in enumerate(pieces) for c in splitter.feed(token)]
    return out + [(len(pieces), c) for c in splitter.flush()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A long first sentence without a comma: cut before the phrase "from ...".
        (DEFAULT_REPLY, ["The next train to the city leaves",
                         "from the main platform in a few minutes.",
                         "You can buy your ticket at the machine near the entrance,",
                         "or on the train itself."]),
        # No phrase-starting word among words 4-8: the middle, at a word boundary.
        ("One two three four five six seven eight nine ten eleven twelve.",
         ["One two three four five six", "seven eight nine ten eleven twelve."]),
        # A conjunction wins over a preposition.
        ("The storm moved in from the coast and the roads closed late at night.",
         ["The storm moved in from the coast", "and the roads closed late at night."]),
        # A break within the first eight words is taken as before.
        ("Sure! The train leaves at nine. It is on time.",
         ["Sure!", "The train leaves at nine.", "It is on time."]),
        ("Welcome to the evening news, where tonight we look at the storm.",
         ["Welcome to the evening news,", "where tonight we look at the storm."]),
        # A reply of eight words or fewer is not cut.
        ("It is 21 degrees and sunny in Paris.", ["It is 21 degrees and sunny in Paris."]),
    ],
)  # fmt: skip
def test_first_piece_by_length(text: str, expected: list[str]) -> None:
    assert [clause for _, clause in _split(text)] == expected


def test_the_first_piece_goes_out_when_the_ninth_word_begins() -> None:
    pieces = tokens(DEFAULT_REPLY)
    index, first = _split(DEFAULT_REPLY)[0]
    assert len("".join(pieces[: index + 1]).split()) == 9  # "... leaves from the"
    assert ends_mid_phrase(first)


def test_only_the_first_piece_is_cut_by_length() -> None:
    text = " ".join(["word"] * 60) + "."
    clauses = [clause for _, clause in _split(text)]
    assert len(clauses[0].split()) == 6
    assert " ".join(clauses) == text
    # The rest follows the usual rules: one clause up to the length limit.
    assert len(clauses) == 3


def test_nothing_is_lost_whatever_the_token_boundaries() -> None:
    text = "Right now the museum on the hill is closed for repairs, sadly. Come back soon!"
    whole = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS)
    at_once = whole.feed(text) + whole.flush()
    by_token = [clause for _, clause in _split(text)]
    by_char = ClauseSplitter(first_piece_words=FIRST_PIECE_WORDS)
    chars = [c for ch in text for c in by_char.feed(ch)] + by_char.flush()
    assert at_once == by_token == chars
    assert " ".join(at_once) == text
