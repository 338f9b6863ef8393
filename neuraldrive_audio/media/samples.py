"""The sample type every audio function works in, and its 16-bit wire/disk form."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatAudio = npt.NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""

WHISPER_SAMPLE_RATE: Final = 16_000
"""The rate decoded uploads (and everything that transcribes) work at."""

EMPTY: Final[FloatAudio] = np.zeros(0, dtype=np.float32)


S16LE = np.dtype("<i2")
"""16-bit little-endian samples: our PCM on the wire and in job files."""


def from_s16le(samples: npt.NDArray[np.int16]) -> FloatAudio:
    """16-bit samples back to float32 in [-1, 1)."""
    return np.asarray(samples, dtype=np.float32) / 32768.0


def to_s16le(pcm: FloatAudio) -> bytes:
    """Float samples in [-1, 1] to 16-bit little-endian PCM, clipping what overshoots."""
    scaled = np.rint(np.clip(pcm, -1.0, 1.0) * 32767.0)
    data: bytes = scaled.astype(S16LE).tobytes()
    return data


def duration_s(audio: FloatAudio) -> float:
    """Length of 16 kHz audio in seconds."""
    return len(audio) / WHISPER_SAMPLE_RATE
