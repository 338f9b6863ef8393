"""Cutting a streamed LLM reply into speakable clauses while its tokens arrive.

A voice agent must start speaking before the LLM has finished writing, so the reply is
cut as soon as a piece is complete: at the end of a sentence, at a line break, or at a
comma/semicolon/colon/dash once the piece is long enough to sound natural on its own.
A period only ends a sentence when what follows it says so ("Dr. Smith", "3.5",
"e.g. this" do not), so a cut waits for the first character after the whitespace.
"""

from __future__ import annotations

import re
from typing import Final

from neuraldrive_audio.media.text import TERMINAL_MARK, ends_sentence

# A clause break shorter than this is not worth a speech job of its own ("Well, ").
MIN_CLAUSE_CHARS: Final = 30
# With no break at all, a piece this long is cut at its last space (keeps TTS latency low).
MAX_CLAUSE_CHARS: Final = 250

_CLAUSE_MARK = re.compile(r"(?:[,;:]|\s[—–-]{1,2}|—)(\s+)")
_LINE_BREAK = re.compile(r"\s*\n\s*")
_SPEAKABLE = re.compile(r"\w")


class ClauseSplitter:
    """Feed token deltas, get complete clauses back as soon as each one is decided.

    Pure and synchronous: ``feed`` returns the clauses the new text completed (often
    none), ``flush`` the rest once the stream has ended. Clauses come back stripped; the
    concatenation of everything returned is the input minus whitespace at the cuts.
    """

    def __init__(
        self, min_clause_chars: int = MIN_CLAUSE_CHARS, max_clause_chars: int = MAX_CLAUSE_CHARS
    ) -> None:
        self._min = min_clause_chars
        self._max = max_clause_chars
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
        """Index after the first decided clause in the pending text, or None.

        A piece with nothing to say ("..." alone) is never cut off: it stays with the next.
        """
        text = self._pending
        cuts = [
            cut
            for cut in (self._sentence_end(text), self._line_break(text), self._clause_end(text))
            if cut is not None
        ]
        if cuts:
            return min(cuts)
        if len(text) > self._max:
            space = text.rfind(" ", 0, self._max)
            return space if space > 0 else self._max
        return None

    def _sentence_end(self, text: str) -> int | None:
        for match in TERMINAL_MARK.finditer(text):
            after = text[match.end() :]
            if not after:
                return None  # the next token decides ("Dr." + " Smith" vs " The")
            if not _SPEAKABLE.search(text, 0, match.start()):
                continue
            if ends_sentence(text[: match.start()], match.group(1), after[0]):
                return match.end(1)
        return None

    def _line_break(self, text: str) -> int | None:
        # LLMs don't hard-wrap: a line break is a list item or a paragraph.
        match = _LINE_BREAK.search(text)
        if match is None or not _SPEAKABLE.search(text, 0, match.start()):
            return None
        return match.start()

    def _clause_end(self, text: str) -> int | None:
        # The whitespace after the mark is required: "1,000" and "3:30" are no breaks.
        for match in _CLAUSE_MARK.finditer(text):
            if match.start(1) >= self._min and _SPEAKABLE.search(text, 0, match.start()):
                return match.start(1)
        return None
