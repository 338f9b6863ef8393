"""The uncommitted input audio of a session, on the session's timeline.

Times are ms since the session's first audio, so VAD decisions (also on that timeline)
address the same samples. The buffer keeps 16-bit samples at the input format's rate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from neuraldrive_audio.api.realtime.session_config import AudioFormat
from neuraldrive_audio.media import g711


def decode_input(data: bytes, fmt: AudioFormat) -> npt.NDArray[np.int16]:
    """Samples of one appended chunk."""
    if fmt is AudioFormat.PCMU:
        return g711.decode_mulaw(data)
    if fmt is AudioFormat.PCMA:
        return g711.decode_alaw(data)
    usable = len(data) - len(data) % 2  # a torn last byte is dropped, not an error
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)


class InputAudioBuffer:
    """Appended audio not yet committed; ``start_sample`` is where it begins on the timeline."""

    def __init__(self, sample_rate: int, start_ms: int = 0) -> None:
        self.sample_rate = sample_rate
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._length = 0
        self.start_sample = start_ms * sample_rate // 1000

    @property
    def length_samples(self) -> int:
        """Samples held."""
        return self._length

    @property
    def length_ms(self) -> int:
        """Duration held."""
        return self._length * 1000 // self.sample_rate

    @property
    def end_ms(self) -> int:
        """Timeline position of the newest sample."""
        return (self.start_sample + self._length) * 1000 // self.sample_rate

    def _sample_at(self, ms: int) -> int:
        return ms * self.sample_rate // 1000

    def append(self, samples: npt.NDArray[np.int16]) -> None:
        """Add audio at the end."""
        if len(samples):
            self._chunks.append(samples)
            self._length += len(samples)

    def _all(self) -> npt.NDArray[np.int16]:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int16)

    def drop_before(self, ms: int) -> None:
        """Forget audio before timeline position ``ms``."""
        cut = min(max(0, self._sample_at(ms) - self.start_sample), self._length)
        if cut:
            rest = self._all()[cut:]
            self._chunks = [rest] if len(rest) else []
            self._length -= cut
            self.start_sample += cut

    def peek(self) -> npt.NDArray[np.int16]:
        """All the audio held, left in place."""
        return self._all()

    def take(self, end_ms: int | None = None) -> npt.NDArray[np.int16]:
        """Remove and return the audio up to ``end_ms`` (all of it when None)."""
        audio = self._all()
        cut = self._length if end_ms is None else self._sample_at(end_ms) - self.start_sample
        cut = min(max(0, cut), self._length)
        taken, rest = audio[:cut], audio[cut:]
        self._chunks = [rest] if len(rest) else []
        self._length -= cut
        self.start_sample += cut
        return taken

    def clear(self) -> None:
        """Drop everything held."""
        self.take()
