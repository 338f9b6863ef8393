"""Raw PCM in any layout a client sends, converted chunk by chunk to 16 kHz mono.

Speech-to-text jobs want 16 kHz mono 16-bit audio. Clients (Home Assistant satellites,
other Wyoming peers) send whatever their microphone gives: any rate, 8/16/24/32-bit
samples, several channels. Converting each chunk as it arrives keeps the memory a long
command holds at 32 kB per second whatever came in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from neuraldrive_audio.media.resample import Resampler
from neuraldrive_audio.media.samples import WHISPER_SAMPLE_RATE, FloatAudio, to_s16le

MAX_RATE = 384_000
MAX_CHANNELS = 32


class PcmFormatError(ValueError):
    """The announced layout is not one we can read."""


@dataclass(frozen=True)
class PcmFormat:
    """Interleaved little-endian PCM: samples per second, bytes per sample, channels."""

    rate: int
    width: int
    channels: int

    def __post_init__(self) -> None:
        if not 1_000 <= self.rate <= MAX_RATE:
            raise PcmFormatError(f"sample rate {self.rate} is outside 1000..{MAX_RATE}")
        if self.width not in (1, 2, 3, 4):
            raise PcmFormatError(f"sample width {self.width} is not 1, 2, 3 or 4 bytes")
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise PcmFormatError(f"channel count {self.channels} is outside 1..{MAX_CHANNELS}")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample on every channel."""
        return self.width * self.channels

    @property
    def bytes_per_second(self) -> int:
        """Bytes one second of audio takes in this layout."""
        return self.rate * self.frame_bytes


WHISPER_PCM = PcmFormat(WHISPER_SAMPLE_RATE, 2, 1)
"""What speech-to-text jobs take: 16 kHz, 16-bit, mono."""


def _to_float(frames: bytes, width: int) -> FloatAudio:
    """Little-endian signed samples (unsigned for 8-bit, as in WAV) scaled to [-1, 1)."""
    if width == 1:
        return ((np.frombuffer(frames, np.uint8).astype(np.float32) - 128.0) / 128.0).astype(
            np.float32
        )
    if width == 2:
        return (np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0).astype(np.float32)
    if width == 4:
        return (np.frombuffer(frames, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    raw = np.frombuffer(frames, np.uint8).reshape(-1, 3).astype(np.int32)
    value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    value = np.where(value >= 1 << 23, value - (1 << 24), value)
    return (value.astype(np.float32) / float(1 << 23)).astype(np.float32)


class PcmConverter:
    """Turns a stream of chunks in ``source`` layout into 16 kHz mono 16-bit bytes.

    A chunk may end mid-frame; the partial frame waits for the next chunk. Mono 16 kHz
    16-bit input passes through untouched.
    """

    def __init__(self, source: PcmFormat) -> None:
        self.source = source
        self._carry = b""
        # FFmpeg's resampler: any ratio (44.1 kHz -> 16 kHz is 160/441) at C speed.
        self._resampler = (
            None
            if source.rate == WHISPER_SAMPLE_RATE
            else Resampler(source.rate, WHISPER_SAMPLE_RATE)
        )

    def convert(self, chunk: bytes) -> bytes:
        """The 16 kHz mono 16-bit bytes for the complete frames received so far."""
        if self.source == WHISPER_PCM and not self._carry and len(chunk) % 2 == 0:
            return chunk
        data = self._carry + chunk
        whole = len(data) - len(data) % self.source.frame_bytes
        frames, self._carry = data[:whole], data[whole:]
        if not frames:
            return b""
        samples: npt.NDArray[np.float32] = _to_float(frames, self.source.width)
        if self.source.channels > 1:
            samples = samples.reshape(-1, self.source.channels).mean(axis=1, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        return to_s16le(samples)

    def finish(self) -> bytes:
        """The last converted samples the resampler still holds (call once, at the end)."""
        if self._resampler is None:
            return b""
        return to_s16le(self._resampler.flush())
