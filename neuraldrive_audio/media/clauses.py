"""Cutting a streamed LLM reply into speakable clauses while its tokens arrive.

A voice agent must start speaking before the LLM has finished writing, so the reply is
cut as soon as a piece is complete: at the end of a sentence, at a line break, or at a
comma/semicolon/colon/dash once the piece is long enough to sound natural on its own.
A period only ends a sentence when what follows it says so ("Dr. Smith", "3.5",
"e.g. this" do not), so a cut waits for the first character after the whitespace.

The same rules cut the first sentence of a speech job in two (:func:`split_first_clause`):
the engine speaks the short first clause on its own, so the first audio goes out after a
clause's synthesis time instead of a whole sentence's.

A live reply's first piece can be chosen by length instead of punctuation
(``ClauseSplitter(first_piece_words=(4, 8))``): its first 4-8 words, cut at a word boundary
(before "and", "which", "from", ... when there is one), so the first audio costs a few
words' synthesis even when the first sentence is long and has no comma. The piece then
ends mid-phrase (:func:`ends_mid_phrase`) and its trailing pause is trimmed by whoever
speaks it (``media.seams``), so the join is not heard.
"""

from __future__ import annotations

import re
from typing import Final

from neuraldrive_audio.media.text import TERMINAL_MARK, ends_sentence

# A clause break shorter than this is not worth a speech job of its own ("Well, ").
MIN_CLAUSE_CHARS: Final = 30
# With no break at all, a piece this long is cut at its last space (keeps TTS latency low).
MAX_CLAUSE_CHARS: Final = 250

# The first piece of a speech job: a clause break before this many characters is too early
# ("Well, "), and with no break a piece is cut near this many (about 14 words).
FIRST_CLAUSE_MIN_CHARS: Final = 15
FIRST_CLAUSE_MAX_CHARS: Final = 80
# What must remain after the first clause to be worth a unit (and a seam) of its own.
FIRST_CLAUSE_MIN_REST_CHARS: Final = 20

# A live reply's first piece, by length: at least / at most this many words (a word
# boundary before a phrase-starting word, else the middle), unless a break comes first.
FIRST_PIECE_WORDS: Final = (4, 8)

# With no punctuation to cut at, a cut before one of these words falls between phrases:
# conjunctions and relative words first, prepositions ("nobody | in the town") only if
# there is none.
_PHRASE_STARTS: Final = (
    frozenset([
        "and", "but", "or", "nor", "yet", "so", "because", "although", "though", "while",
        "when", "whenever", "where", "whereas", "which", "who", "whom", "whose", "if",
        "unless", "until", "after", "before", "since",
    ]),
    frozenset(["with", "without", "for", "from", "in", "on", "at", "into", "during", "across"]),
)  # fmt: skip

_CLAUSE_MARK = re.compile(r"(?:[,;:]|\s[—–-]{1,2}|—)(\s+)")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_SPEAKABLE = re.compile(r"\w")
_WORD = re.compile(r"\S+")


class ClauseSplitter:
    """Feed token deltas, get complete clauses back as soon as each one is decided.

    Pure and synchronous: ``feed`` returns the clauses the new text completed (often
    none), ``flush`` the rest once the stream has ended. Clauses come back stripped; the
    concatenation of everything returned is the input minus whitespace at the cuts.

    With ``first_piece_words=(low, high)`` the first clause is cut by length: at a
    sentence end, line break or clause mark within its first ``high`` words, else at a
    word boundary after ``low`` to ``high`` words, decided once word ``high + 1`` begins.
    """

    def __init__(
        self,
        min_clause_chars: int = MIN_CLAUSE_CHARS,
        max_clause_chars: int = MAX_CLAUSE_CHARS,
        first_piece_words: tuple[int, int] | None = None,
    ) -> None:
        self._min = min_clause_chars
        self._max = max_clause_chars
        self._first_words = first_piece_words
        self._pending = ""

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a clause."""
        return self._pending

    def feed(self, delta: str) -> list[str]:
        """Add a piece of the reply; returns the clauses it completed, in order."""
        self._pending += delta
        clauses: list[str] = []
        while (cut := self._next_cut()) is not None:
            clause, self._pending = self._pending[:cut], self._pending[cut:].lstrip()
            clauses.append(clause.strip())
        return clauses

    def flush(self) -> list[str]:
        """The end of the reply: whatever is left, if it has anything to say."""
        rest, self._pending = self._pending.strip(), ""
        return [rest] if _SPEAKABLE.search(rest) else []

    def _next_cut(self) -> int | None:
        """Index after the first decided clause in the pending text, or None."""
        if self._first_words is None:
            return _first_cut(self._pending, self._min, self._max)
        cut = _first_words_cut(self._pending, *self._first_words)
        if cut is not None:
            self._first_words = None  # only the first piece; then the usual rules
        return cut


def split_first_clause(
    sentence: str,
    min_chars: int = FIRST_CLAUSE_MIN_CHARS,
    max_chars: int = FIRST_CLAUSE_MAX_CHARS,
    min_rest_chars: int = FIRST_CLAUSE_MIN_REST_CHARS,
) -> list[str]:
    """``sentence`` as [first clause, rest], or [sentence] when a cut is not worth it.

    The cut is the clause splitter's: the first comma/semicolon/colon/dash at least
    ``min_chars`` in, else (in a sentence longer than ``max_chars``) a space before a
    phrase-starting word such as "and" or "which" below ``max_chars``. A rest shorter than
    ``min_rest_chars`` stays with the first clause.
    """
    sentence = sentence.strip()
    cut = _first_cut(sentence, min_chars, max_chars)
    if cut is None:
        return [sentence]
    first, rest = sentence[:cut].strip(), sentence[cut:].strip()
    if len(rest) < min_rest_chars or not _SPEAKABLE.search(rest):
        return [sentence]
    return [first, rest]


def ends_mid_phrase(piece: str) -> bool:
    """Whether a piece ends without a mark (closing quotes and brackets aside), i.e. its
    speech runs on into the next piece with no pause."""
    end = piece.rstrip().rstrip("\"'”’)]")
    return bool(end) and end[-1].isalnum()


def _first_cut(text: str, min_chars: int, max_chars: int) -> int | None:
    """Index after the first decided clause of ``text``, or None.

    A piece with nothing to say ("..." alone) is never cut off: it stays with the next.
    A cut past ``max_chars`` is not taken (the text is cut below the limit instead), so
    the result does not depend on how the text arrived.
    """
    marked = _marked_cut(text, min_chars, max_chars)
    if marked is not None:
        return marked
    if len(text) > max_chars:
        return _phrase_cut(text, min_chars, max_chars)
    return None


def _marked_cut(text: str, min_chars: int, max_chars: int) -> int | None:
    """Index after the first decided sentence end, line break or clause mark (past
    ``min_chars``) up to ``max_chars``, or None."""
    found = (_sentence_end(text), _line_break(text), _clause_end(text, min_chars))
    cuts = [cut for cut in found if cut is not None and cut <= max_chars]
    return min(cuts) if cuts else None


def _first_words_cut(text: str, low: int, high: int) -> int | None:
    """Index after the first piece of ``text`` chosen by length (see :class:`ClauseSplitter`),
    or None while undecided."""
    words = list(_WORD.finditer(text))
    # Word ``high`` is whole (and any mark after it decided) once the next word begins.
    decided = len(words) > high
    limit = words[high].start() if decided else len(text)
    marked = _marked_cut(text, FIRST_CLAUSE_MIN_CHARS, limit)
    if marked is not None:
        return marked
    if not decided:
        return None
    for starts in _PHRASE_STARTS:
        for count in range(high, low - 1, -1):
            if words[count].group().lower() in starts:
                return words[count - 1].end()
    return words[(low + high) // 2 - 1].end()


def _phrase_cut(text: str, min_chars: int, max_chars: int) -> int:
    """The last space below ``max_chars`` (past ``min_chars``) before a phrase-starting
    word, else the last space, else ``max_chars`` itself."""
    spaces = [m.start() for m in re.finditer(r"\s", text[:max_chars]) if m.start() > 0]
    candidates = [space for space in spaces if space >= min_chars]
    for starts in _PHRASE_STARTS:
        for space in reversed(candidates):
            word = text[space + 1 :].split(maxsplit=1)[:1]
            if word and word[0].lower() in starts:
                return space
    return spaces[-1] if spaces else max_chars


def _sentence_end(text: str) -> int | None:
    for match in TERMINAL_MARK.finditer(text):
        after = text[match.end() :]
        if not after:
            return None  # the next token decides ("Dr." + " Smith" vs " The")
        if not _SPEAKABLE.search(text, 0, match.start()):
            continue
        if ends_sentence(text[: match.start()], match.group(1), after[0]):
            return match.end(1)
    return None


def _line_break(text: str) -> int | None:
    # LLMs don't hard-wrap: a line break is a list item or a paragraph.
    match = _LINE_BREAK.search(text)
    if match is None or not _SPEAKABLE.search(text, 0, match.start()):
        return None
    return match.start()


def _clause_end(text: str, min_chars: int) -> int | None:
    # The whitespace after the mark is required: "1,000" and "3:30" are no breaks.
    for match in _CLAUSE_MARK.finditer(text):
        if match.start(1) >= min_chars and _SPEAKABLE.search(text, 0, match.start()):
            return match.start(1)
    return None
