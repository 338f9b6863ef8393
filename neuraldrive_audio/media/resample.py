"""Changing the rate or the tempo of mono float audio (PyAV / FFmpeg filters)."""

from __future__ import annotations

from fractions import Fraction
from typing import Final, cast

import av
import av.filter
import numpy as np

from neuraldrive_audio.media.samples import EMPTY, FloatAudio

OUTPUT_SAMPLE_RATE: Final = 24000
"""Every speech format leaves at 24 kHz mono, the rate OpenAI's speech endpoint uses."""


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


class Resampler:
    """Converts one stream of mono float32 audio to ``dst_rate``, chunk by chunk.

    The filter keeps its state between calls, so chunk joins are as smooth as if the
    audio had been resampled in one piece. Use one instance per stream; call ``flush``
    once at the end for the samples still held in the filter.
    """

    def __init__(self, src_rate: int, dst_rate: int = OUTPUT_SAMPLE_RATE) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._pts = 0
        self._resampler: av.AudioResampler | None = (
            None
            if src_rate == dst_rate
            else av.AudioResampler(format="flt", layout="mono", rate=dst_rate)
        )

    def process(self, chunk: FloatAudio) -> FloatAudio:
        """Resample one chunk; returns the output samples available so far."""
        if self._resampler is None:
            return np.asarray(chunk, dtype=np.float32).reshape(-1)
        if chunk.size == 0:
            return EMPTY
        frame = av_frame(chunk, self.src_rate, self._pts)
        self._pts += chunk.size
        return join_frames(self._resampler.resample(frame))

    def flush(self) -> FloatAudio:
        """The samples the filter still holds; the resampler is spent afterwards."""
        if self._resampler is None:
            return EMPTY
        return join_frames(self._resampler.resample(None))


def time_stretch(audio: FloatAudio, sample_rate: int, factor: float) -> FloatAudio:
    """Play mono ``audio`` ``factor`` times faster without changing its pitch.

    Uses FFmpeg's ``atempo`` (WSOLA), which takes factors from 0.5 to 100. The engines
    use it for the part of a requested speed their model cannot do itself.
    """
    if audio.size == 0:
        return EMPTY
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="flt", sample_rate=sample_rate, layout="mono", time_base=Fraction(1, sample_rate)
    )
    tempo = graph.add("atempo", f"{factor:.6f}")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(sink)
    graph.configure()
    graph.push(av_frame(audio, sample_rate, 0))
    graph.push(None)
    frames: list[av.AudioFrame] = []
    while True:
        try:
            frames.append(cast(av.AudioFrame, graph.pull()))
        except (av.error.EOFError, BlockingIOError):
            return join_frames(frames)
