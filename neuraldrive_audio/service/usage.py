"""Token accounting, in one place.

We have no tokenizer for OpenAI's counts, so usage is a stated estimate, shaped the way
OpenAI reports it: ~4 characters of input text per token, and one audio token per 20 ms
of audio (50 a second: also the rate at which Whisper's encoder turns audio into
positions, so the same figure counts transcribed audio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
"""Characters of text per (estimated) text token."""

AUDIO_TOKENS_PER_SECOND = 50
"""Audio tokens per second of audio, heard or spoken."""


def text_tokens(text: str) -> int:
    """Estimated tokens of ``text``."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def audio_tokens(seconds: float) -> int:
    """Audio tokens of ``seconds`` of audio."""
    return math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)


@dataclass(frozen=True)
class SpeechUsage:
    """Usage of one speech synthesis: the text read, the audio made."""

    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, text: str, samples: int, sample_rate: int) -> SpeechUsage:
        """The usage of speaking ``text`` as ``samples`` samples at ``sample_rate``."""
        return cls(text_tokens(text), audio_tokens(samples / sample_rate))

    def as_dict(self) -> dict[str, int]:
        """``{"input_tokens", "output_tokens", "total_tokens"}``, as OpenAI reports it."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }
