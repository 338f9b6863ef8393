"""What of a spoken reply the listener has heard: its clauses and the audio sent of each.

A reply is spoken clause by clause, so when it is cut (barge-in, ``response.cancel``,
``conversation.item.truncate``) the heard text is every clause whose audio was played
whole, plus the share of the clause being played, cut back to a whole word. The share
of a clause whose length is not known yet (its audio was still arriving) is estimated
from the speaking rate of the clauses before it.
"""

from __future__ import annotations

from dataclasses import dataclass

CHARS_PER_SECOND = 15.0
"""Speaking rate assumed before any clause of the reply was heard whole (at speed 1)."""


@dataclass
class SpokenClause:
    """One clause of a reply and the audio of it sent so far."""

    text: str
    samples: int = 0
    complete: bool = False
    """True once all of the clause's audio was sent (its length is known)."""


class SpokenReply:
    """The clauses of one reply in order, with the audio sent (24 kHz samples)."""

    def __init__(self, sample_rate: int, speed: float = 1.0) -> None:
        self.sample_rate = sample_rate
        self.speed = speed
        self.clauses: list[SpokenClause] = []

    @property
    def samples(self) -> int:
        """Audio sent, over all clauses."""
        return sum(clause.samples for clause in self.clauses)

    @property
    def duration_ms(self) -> int:
        """Length of the audio sent."""
        return self.samples * 1000 // self.sample_rate

    def sent(self, clause_index: int, text: str, samples: int) -> None:
        """Record ``samples`` of clause ``clause_index`` as sent."""
        while len(self.clauses) <= clause_index:
            for earlier in self.clauses:
                earlier.complete = True  # a later clause started: the earlier ones are whole
            self.clauses.append(SpokenClause(text))
        self.clauses[clause_index].samples += samples

    def finish(self) -> None:
        """The reply was spoken to its end."""
        for clause in self.clauses:
            clause.complete = True

    def _chars_per_sample(self) -> float:
        whole = [c for c in self.clauses if c.complete and c.samples]
        if whole:
            return sum(len(c.text) for c in whole) / sum(c.samples for c in whole)
        return CHARS_PER_SECOND * self.speed / self.sample_rate

    def heard_text(self, heard_ms: int | None = None) -> str:
        """The text heard up to ``heard_ms`` of the audio (all audio sent when None)."""
        left = self.samples if heard_ms is None else heard_ms * self.sample_rate // 1000
        heard: list[str] = []
        for clause in self.clauses:
            if left <= 0:
                break
            if clause.complete and left >= clause.samples:
                heard.append(clause.text)
                left -= clause.samples
                continue
            if clause.complete:
                chars = round(len(clause.text) * left / max(clause.samples, 1))
            else:
                chars = round(min(left, clause.samples) * self._chars_per_sample())
            part = _whole_words(clause.text, chars)
            if part:
                heard.append(part)
            break
        return " ".join(heard)


def _whole_words(text: str, chars: int) -> str:
    """The first ``chars`` characters of ``text``, without a torn last word."""
    if chars >= len(text):
        return text
    cut = text[:chars]
    if text[chars : chars + 1].isspace():
        return cut.rstrip()
    return cut.rsplit(" ", 1)[0].rstrip() if " " in cut else ""
