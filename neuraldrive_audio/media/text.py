"""Text handling for speech synthesis: sentence splitting, chunking and normalization.

The worker splits the input into sentences first (so the first one can be spoken while
the rest wait) and normalizes each sentence before handing it to an engine, because the
phonemizers read "$5.20", "Dr." or "1999" badly or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from num2words import num2words

# Beyond this many characters a sentence is cut at a clause boundary: Kokoro's time to
# first audio grows with the length of the first piece.
MAX_SENTENCE_CHARS: Final = 300

# ---------------------------------------------------------------------------------------
# Sentence splitting
# ---------------------------------------------------------------------------------------

# A terminal mark, any closing quotes/brackets after it, then the whitespace we cut at.
TERMINAL_MARK = re.compile(r"([.!?…]+[\"'”’)\]]*)(\s+)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_BULLET = re.compile(r"^\s*[-*•]\s+")
_LIST_NUMBER = re.compile(r"^\d+$")
_CLAUSE_BREAK = re.compile(r"[,;:—–]\s+|\s+[—–]\s+")

# Abbreviations that precede what follows (titles, "e.g."): a period after them never
# ends a sentence.
_NEVER_ENDS: Final = frozenset(
    [
        "dr.",
        "mr.",
        "mrs.",
        "ms.",
        "prof.",
        "st.",
        "mt.",
        "rev.",
        "gen.",
        "capt.",
        "sgt.",
        "lt.",
        "col.",
        "hon.",
        "fr.",
        "e.g.",
        "i.e.",
        "vs.",
        "cf.",
        "approx.",
        "ca.",
        "u.s.",
        "u.k.",
        "u.n.",
        "e.u.",
    ]
)
# Abbreviations that often end sentences too: they end one only before a capital letter.
_ENDS_BEFORE_CAPITAL: Final = frozenset(
    [
        "etc.",
        "a.m.",
        "p.m.",
        "inc.",
        "ltd.",
        "co.",
        "corp.",
        "jr.",
        "sr.",
        "no.",
        "fig.",
        "vol.",
        "dept.",
        "est.",
        "jan.",
        "feb.",
        "mar.",
        "apr.",
        "jun.",
        "jul.",
        "aug.",
        "sep.",
        "sept.",
        "oct.",
        "nov.",
        "dec.",
    ]
)


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Split text into sentences, in order, each at most ``max_chars`` long if possible.

    Paragraphs and list items always start a new sentence; abbreviations, initials,
    decimals and lowercase continuations after a period do not. Sentences longer than
    ``max_chars`` are cut at commas, semicolons or dashes (whitespace as a last resort).
    """
    sentences: list[str] = []
    for block in _blocks(text):
        for sentence in _split_block(block):
            sentences.extend(_split_long(sentence, max_chars))
    return sentences


def speakable(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """The text as the engine should get it: sentences, normalised, and cut again after
    normalising (``"9" * 4096`` is one sentence that reads as 63k characters), so every
    synthesis call stays short and a cancelled job stops within one of them."""
    pieces: list[str] = []
    for sentence in split_sentences(text, max_chars):
        # Punctuation or zero-width characters alone would synthesize silence.
        pieces.extend(p for p in _split_long(normalize(sentence), max_chars) if says_something(p))
    return pieces


def says_something(text: str) -> bool:
    """Whether ``text`` has anything to pronounce (punctuation alone is silence)."""
    return any(ch.isalnum() for ch in text)


def _blocks(text: str) -> list[str]:
    """Paragraphs and list items, each with its line breaks turned into spaces."""
    blocks: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        current: list[str] = []
        for line in paragraph.splitlines():
            # A hard-wrapped line continues the sentence; a list item starts a new one.
            if _LIST_ITEM.match(line) and current:
                blocks.append(" ".join(current))
                current = []
            # The bullet itself is not read aloud; a list number is.
            line = _BULLET.sub("", line).strip()
            if line:
                current.append(line)
        if current:
            blocks.append(" ".join(current))
    return blocks


def _split_block(block: str) -> list[str]:
    """Cut one block at the terminal marks that really end a sentence."""
    sentences: list[str] = []
    start = 0
    for match in TERMINAL_MARK.finditer(block):
        before = block[start : match.start()]
        after = block[match.end() :]
        if ends_sentence(before, match.group(1), after[:1]):
            sentences.append(block[start : match.end(1)].strip())
            start = match.end()
    sentences.append(block[start:].strip())
    return [s for s in sentences if s]


def ends_sentence(before: str, mark: str, following: str) -> bool:
    """Whether ``mark`` (with closing quotes) after the text ``before`` ends a sentence.

    ``following`` is the first non-space character after the mark ("" at the end of the
    text). The one rule for the speech job's sentences and the voice agent's clauses.
    """
    if not following:
        return True
    if following.islower():
        # "approx. five", "Wait... what": a lowercase word continues the sentence.
        return False
    if mark[0] in "!?…" or mark.startswith(".."):
        return True
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'“‘([")
    key = word.lower() + "."
    if key in _NEVER_ENDS:
        return False
    if key in _ENDS_BEFORE_CAPITAL:
        return following.isupper()
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. R. R. Tolkien"
    # "1. First item" at the start of a block is a list number, not a sentence.
    return not (len(words) == 1 and _LIST_NUMBER.match(word))


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence longer than ``max_chars`` at its last clause break within the limit."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        cut = _cut_point(rest, max_chars)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut_point(text: str, max_chars: int) -> int:
    """Index to cut ``text`` at: after a clause mark, else a space, else hard at the limit."""
    window = text[: max_chars + 1]
    clause_ends = [m.end() for m in _CLAUSE_BREAK.finditer(window) if m.end() <= max_chars]
    # Cutting right at the start would leave a tiny first piece; prefer a later break.
    if clause_ends and clause_ends[-1] > max_chars // 4:
        return clause_ends[-1]
    space = window.rfind(" ")
    return space if space > 0 else max_chars


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Group sentences into chunks of at most ``max_chars``, cut only between sentences.

    Paragraph breaks inside a chunk are kept as blank lines. A single sentence longer
    than ``max_chars`` is cut at clause breaks so no chunk exceeds the limit.
    """
    chunks: list[str] = []
    current = ""
    for p_index, paragraph in enumerate(_PARAGRAPH_BREAK.split(text)):
        separator = "\n\n" if p_index else " "
        for sentence in split_sentences(paragraph, max_chars):
            if not current:
                current = sentence
            elif len(current) + len(separator) + len(sentence) <= max_chars:
                current += separator + sentence
            else:
                chunks.append(current)
                current = sentence
            separator = " "
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------

_MONTHS: Final = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBREVIATIONS: Final = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DATE = re.compile(
    r"\b(" + "|".join(_MONTHS) + r"|(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?)"
    r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?"
)
_TIME = re.compile(
    r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(?:([aApP])\.?\s?[mM]\b\.?)"  # 3:30 pm, 5 p.m., 7AM
    r"|\b(\d{1,2}):(\d{2})\b"  # 14:30
)
_CURRENCY = re.compile(
    r"([$€£¥])\s?(\d[\d,]*)(?:\.(\d+))?(?:\s?(thousand|million|billion|trillion)\b)?"
)
_PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_ORDINAL = re.compile(r"\b(\d[\d,]*)(?:st|nd|rd|th)\b", re.IGNORECASE)
_DECADE = re.compile(r"\b(1[1-9]\d0|20[0-9]0)s\b")
_YEAR = re.compile(r"(?<![\d.,$€£¥])\b(1[1-9]\d\d|20\d\d)\b(?![.,]\d|%)")
_DECIMAL = re.compile(r"(?<![\d.])(-?\d[\d,]*\.\d+)(?![\d.]*\d)")
_INTEGER = re.compile(r"(?<!\w)(-?\d{1,3}(?:,\d{3})+|-?\d+)(?![\d])")
_SPACES = re.compile(r"\s+")

# name -> (one, many, subunit one, subunit many); ¥ has no subunit in speech.
_CURRENCIES: Final = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
}

_SYMBOLS: Final = {"&": " and ", "+": " plus ", "=": " equals ", "@": " at ", "%": " percent "}
_SYMBOL = re.compile("|".join(re.escape(s) for s in _SYMBOLS))

# Expansions read aloud; "St." is decided by what follows (see _expand_abbreviation).
_ABBREVIATIONS: Final = {
    "dr.": "Doctor",
    "mr.": "Mister",
    "mrs.": "Missus",
    "ms.": "Miz",
    "prof.": "Professor",
    "mt.": "Mount",
    "jr.": "Junior",
    "sr.": "Senior",
    "e.g.": "for example",
    "i.e.": "that is",
    "etc.": "et cetera",
    "vs.": "versus",
    "approx.": "approximately",
    "no.": "number",
}
_ABBREVIATION = re.compile(
    r"(?<![\w.])("
    + "|".join(re.escape(a) for a in [*_ABBREVIATIONS, "st."])
    + r")(?=[\s,;:!?)\]\"'”’]|$)",
    re.IGNORECASE,
)


def _words(number: int | Decimal, to: str = "cardinal") -> str:
    """num2words without the commas it puts between groups (they would become pauses)."""
    return str(num2words(number, lang="en", to=to)).replace(",", "")


def _say_number(digits: str) -> str:
    """A cardinal or decimal written with optional thousands separators, read aloud."""
    plain = digits.replace(",", "")
    spoken = _words(Decimal(plain.lstrip("-")) if "." in plain else int(plain.lstrip("-")))
    return f"minus {spoken}" if plain.startswith("-") else spoken


def _expand_abbreviation(match: re.Match[str]) -> str:
    """The spoken form of an abbreviation, keeping a period when it ended the text."""
    key = match.group(1).lower()
    rest = match.string[match.end() :]
    if key == "no." and not rest.lstrip()[:1].isdigit():
        return match.group(0)  # "No. 5" is "number five", "I said no." is not
    if key == "st.":
        # Before a name it is "Saint" (St. Louis); otherwise a street (Main St.).
        spoken = "Saint" if rest.lstrip()[:1].isupper() else "Street"
    else:
        spoken = _ABBREVIATIONS[key]
        if match.group(1)[0].isupper():
            spoken = spoken[0].upper() + spoken[1:]  # "E.g." starts a sentence
    # The abbreviation's period was also the sentence's; the phonemizer needs it.
    return spoken + "." if not rest.strip() else spoken


def _say_iso_date(match: re.Match[str]) -> str:
    """2024-03-05 -> March fifth, twenty twenty-four (left alone if not a real date)."""
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f"{_MONTHS[month - 1]} {_words(day, to='ordinal')}, {_words(year, to='year')}"


def _say_month_date(match: re.Match[str]) -> str:
    """March 5, 2024 / Mar. 5th -> March fifth, twenty twenty-four / March fifth."""
    month_text, day_text, year_text = match.groups()
    month = _MONTH_ABBREVIATIONS.get(month_text.rstrip(".").lower(), month_text)
    day = int(day_text)
    if not 1 <= day <= 31:
        return match.group(0)
    spoken = f"{month} {_words(day, to='ordinal')}"
    return f"{spoken}, {_words(int(year_text), to='year')}" if year_text else spoken


def _say_time(match: re.Match[str]) -> str:
    """3:30 pm -> three thirty PM; 5 p.m. -> five PM; 14:05 -> fourteen oh five."""
    hour_text, minute_text, meridiem, hour24_text, minute24_text = match.groups()
    if hour24_text is not None:
        hour, minute, suffix = int(hour24_text), int(minute24_text), ""
        if hour > 23 or minute > 59:
            return match.group(0)
    else:
        hour, minute = int(hour_text), int(minute_text or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return match.group(0)
        suffix = " AM" if meridiem.lower() == "a" else " PM"
    if minute == 0:
        clock = " o'clock" if not suffix else ""
    elif minute < 10:
        clock = f" oh {_words(minute)}"
    else:
        clock = f" {_words(minute)}"
    spoken = f"{_words(hour)}{clock}{suffix}"
    # "at 5 p.m." ends on the abbreviation's period: keep it as the sentence's end.
    at_end = match.group(0).endswith(".") and not match.string[match.end() :].strip()
    return spoken + "." if at_end else spoken


def _say_currency(match: re.Match[str]) -> str:
    """$5.20 -> five dollars and twenty cents; $1.5 million -> one point five million dollars."""
    symbol, whole_text, fraction_text, scale = match.groups()
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    whole = int(whole_text.replace(",", ""))
    if scale:
        amount = f"{whole_text}.{fraction_text}" if fraction_text else whole_text
        return f"{_say_number(amount)} {scale} {many}"
    if fraction_text and (len(fraction_text) != 2 or not sub_one):
        # $0.005 or ¥1.5: not a price in units and cents, read the number as it is.
        return f"{_say_number(f'{whole_text}.{fraction_text}')} {many}"
    cents = int(fraction_text) if fraction_text else 0
    parts = []
    if whole or not cents:
        parts.append(f"{_words(whole)} {one if whole == 1 else many}")
    if cents:
        parts.append(f"{_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _say_decade(match: re.Match[str]) -> str:
    """1990s -> nineteen nineties; 2000s -> two thousands."""
    spoken = _words(int(match.group(1)), to="year")
    return spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"


# Order matters: abbreviations before numbers ("No. 5"), dates and times before the
# years and integers inside them, decimals before the integers they contain.
_STEPS: Final[list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]] = [
    (_ABBREVIATION, _expand_abbreviation),
    (_ISO_DATE, _say_iso_date),
    (_MONTH_DATE, _say_month_date),
    (_TIME, _say_time),
    (_CURRENCY, _say_currency),
    (_PERCENT, lambda m: f"{_say_number(m.group(1))} percent"),
    (_ORDINAL, lambda m: _words(int(m.group(1).replace(",", "")), to="ordinal")),
    (_DECADE, _say_decade),
    (_YEAR, lambda m: _words(int(m.group(1)), to="year")),
    (_DECIMAL, lambda m: _say_number(m.group(1))),
    (_INTEGER, lambda m: _say_number(m.group(1))),
    (_SYMBOL, lambda m: _SYMBOLS[m.group(0)]),
]


def normalize(text: str) -> str:
    """Rewrite what a phonemizer would misread into words, e.g. "$5.20" -> "five dollars…".

    Handles abbreviations, ISO and written dates, clock times, currency, percentages,
    ordinals, decades, years, decimals, integers (with thousands separators) and the
    symbols & + = @ %. Everything else is left as it is.
    """
    for pattern, replace in _STEPS:
        text = pattern.sub(replace, text)
    return _SPACES.sub(" ", text).strip()
