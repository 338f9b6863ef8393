"""The sample type every audio function works in, and its 16-bit wire/disk form."""

from __future__ import annotations

from fractions import Fraction
from typing import Final

import av
import numpy as np
import numpy.typing as npt

FloatAudio = npt.NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""

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


def av_frame(samples: FloatAudio, rate: int, pts: int) -> av.AudioFrame:
    """Wrap mono float32 samples in a PyAV frame stamped in sample units."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1),
        format="flt",
        layout="mono",
    )
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


def join_frames(frames: list[av.AudioFrame]) -> FloatAudio:
    """Concatenate packed mono float frames into one array."""
    if not frames:
        return EMPTY
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)
