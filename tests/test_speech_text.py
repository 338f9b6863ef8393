"""Sentence splitting, chunking and normalization of text before synthesis."""

from __future__ import annotations

import pytest

from neuraldrive_audio.media.text import (
    MAX_SENTENCE_CHARS,
    chunk_text,
    normalize,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. This is a test.", ["Hello world.", "This is a test."]),
        ("Is it? Yes! Fine.", ["Is it?", "Yes!", "Fine."]),
        ("Dr. Smith met Mr. Jones and Mrs. Lee.", ["Dr. Smith met Mr. Jones and Mrs. Lee."]),
        ("Ms. Day lives on St. Mark's Road.", ["Ms. Day lives on St. Mark's Road."]),
        ("Fruit, e.g. apples, i.e. food. Next.", ["Fruit, e.g. apples, i.e. food.", "Next."]),
        ("We sell apples, pears, etc. The end.", ["We sell apples, pears, etc.", "The end."]),
        ("The U.S. Army is big. Yes.", ["The U.S. Army is big.", "Yes."]),
        ("Pi is 3.14 roughly. Sure.", ["Pi is 3.14 roughly.", "Sure."]),
        ("It cost $5.20. Cheap.", ["It cost $5.20.", "Cheap."]),
        ("J. R. R. Tolkien wrote it.", ["J. R. R. Tolkien wrote it."]),
        ("Wait... what? Well... No.", ["Wait... what?", "Well...", "No."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ('"Hi!" she said. Bye.', ['"Hi!" she said.', "Bye."]),
        ("It is approx. five.", ["It is approx. five."]),
        ("Meet at 5 p.m. Then eat.", ["Meet at 5 p.m.", "Then eat."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_paragraphs_and_list_items_start_sentences() -> None:
    text = (
        "Title\n\nA wrapped line\nthat continues. Next one.\n- first item\n- second item\n1. One."
    )
    assert split_sentences(text) == [
        "Title",
        "A wrapped line that continues.",
        "Next one.",
        "first item",
        "second item",
        "1. One.",
    ]


def test_long_sentences_are_cut_at_clause_breaks() -> None:
    text = "This clause is fairly long, " * 20 + "and this is the end."
    pieces = split_sentences(text)
    assert len(pieces) > 1
    assert all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert all(p.endswith(",") for p in pieces[:-1])
    assert " ".join(pieces) == text.strip()


def test_long_text_without_punctuation_is_cut_at_spaces() -> None:
    text = "word " * 200
    pieces = split_sentences(text, max_chars=50)
    assert all(0 < len(p) <= 50 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n\n  ") == []


def test_chunk_text_packs_whole_sentences() -> None:
    text = "One two three. Four five six. Seven eight.\n\nNew paragraph here. Last one."
    chunks = chunk_text(text, max_chars=30)
    assert all(len(c) <= 30 for c in chunks)
    assert chunks == [
        "One two three. Four five six.",
        "Seven eight.",
        "New paragraph here. Last one.",
    ]


def test_chunk_text_keeps_paragraph_breaks_inside_a_chunk() -> None:
    assert chunk_text("First. Second.\n\nThird.", max_chars=1000) == ["First. Second.\n\nThird."]


def test_chunk_text_cuts_an_oversized_sentence() -> None:
    chunks = chunk_text("alpha, " * 50 + "omega.", max_chars=60)
    assert all(len(c) <= 60 for c in chunks)
    assert " ".join(chunks).split() == ("alpha, " * 50 + "omega.").split()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have 42 apples.", "I have forty-two apples."),
        (
            "About 1,234,567 people.",
            "About one million two hundred and thirty-four thousand "
            "five hundred and sixty-seven people.",
        ),
        ("Pi is 3.14.", "Pi is three point one four."),
        ("It is -5 outside.", "It is minus five outside."),
        ("She came 1st and he 22nd.", "She came first and he twenty-second."),
        ("That costs $5.20.", "That costs five dollars and twenty cents."),
        ("Only $1 or $0.05.", "Only one dollar or five cents."),
        ("A €3 fee and £2.50 tip.", "A three euros fee and two pounds and fifty pence tip."),
        ("Raised $2.5 million.", "Raised two point five million dollars."),
        ("A 15% rise.", "A fifteen percent rise."),
        ("In 1999 and 2024.", "In nineteen ninety-nine and twenty twenty-four."),
        ("The 1990s.", "The nineteen nineties."),
        ("On 2024-03-05.", "On March fifth, twenty twenty-four."),
        ("On March 5, 2024.", "On March fifth, twenty twenty-four."),
        ("By Jan. 3rd.", "By January third."),
        ("At 3:30 pm.", "At three thirty PM."),
        ("At 5 p.m.", "At five PM."),
        ("At 7:05 a.m. sharp.", "At seven oh five AM sharp."),
        ("At 14:00.", "At fourteen o'clock."),
        ("Tom & Jerry", "Tom and Jerry"),
        ("2 + 2 = 4", "two plus two equals four"),
        ("me@example.com", "me at example.com"),
        ("Dr. Who and Mr. Bean", "Doctor Who and Mister Bean"),
        ("Mrs. Brown, Ms. Green", "Missus Brown, Miz Green"),
        ("St. Louis is on Main St.", "Saint Louis is on Main Street."),
        ("Fruit, e.g. apples, etc.", "Fruit, for example apples, et cetera."),
        ("No. 5 said no.", "Number five said no."),
        ("Plain words stay.", "Plain words stay."),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_does_not_read_impossible_dates_and_times_as_such() -> None:
    assert "March" not in normalize("Code 2024-13-45")
    assert normalize("At 25:61.") == "At twenty-five:sixty-one."
