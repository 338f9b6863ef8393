"""Markdown an LLM writes, reduced to the words a voice should say.

A streaming agent's reply arrives with ``**bold**``, ``# headings``, list bullets and
``code`` marks; read aloud they become "asterisk asterisk" or odd pauses. The text is
cut into clauses first (a line break always cuts), so each piece handed here starts at a
line start or mid-line, never in the middle of a marker's line context.
"""

from __future__ import annotations

import re
from typing import Final

_HEADING: Final = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_BULLET: Final = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_QUOTE: Final = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
_RULE: Final = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE)
_FENCE: Final = re.compile(r"^[ \t]*(?:```|~~~)[^\n]*$", re.MULTILINE)
_EMPHASIS: Final = re.compile(r"\*{1,3}|_{2,3}|~~")
_CODE: Final = re.compile(r"`+")
_LINK: Final = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_SPACES: Final = re.compile(r"[ \t]{2,}")
_BLANK_LINES: Final = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def strip_markdown(text: str) -> str:
    """``text`` without markdown syntax: headings, bullets, emphasis, code marks, links
    (their label stays), rules, quotes and fences. Words and punctuation are kept."""
    text = _FENCE.sub("", text)
    text = _RULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    text = _CODE.sub("", text)
    return _BLANK_LINES.sub("\n", _SPACES.sub(" ", text)).strip()
