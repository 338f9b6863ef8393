"""Raw PCM helpers: 16-bit <-> float, WAV wrapping, and a streaming rational resampler."""

from __future__ import annotations

import io
import math
import wave

import numpy as np
import numpy.typing as npt


def s16_to_float(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """16-bit samples scaled to [-1, 1)."""
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


def float_to_s16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """Float samples in [-1, 1] to 16-bit, clipped."""
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def wav_bytes(samples: npt.NDArray[np.int16], sample_rate: int) -> bytes:
    """A mono 16-bit WAV file holding ``samples``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _lowpass_taps(up: int, down: int, half_width: int) -> npt.NDArray[np.float32]:
    # Windowed sinc at the lower of the two Nyquist rates, on the upsampled grid; the gain
    # of ``up`` makes up for the zeros inserted between input samples.
    cutoff = 0.5 / max(up, down)
    n = np.arange(-half_width * max(up, down), half_width * max(up, down) + 1)
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(len(n), 8.0)
    scaled: npt.NDArray[np.float32] = (taps * up / taps.sum()).astype(np.float32)
    return scaled


class StreamingResampler:
    """Converts a float stream from one rate to another, chunk by chunk, without seams.

    Polyphase: upsample by ``up`` (zeros between samples), low-pass, keep every ``down``-th
    sample. It keeps the filter's history and the decimation phase between calls, so
    feeding a signal in pieces gives the same output as feeding it whole.
    """

    def __init__(self, from_rate: int, to_rate: int, half_width: int = 8) -> None:
        divisor = math.gcd(from_rate, to_rate)
        self.up = to_rate // divisor
        self.down = from_rate // divisor
        self._taps = _lowpass_taps(self.up, self.down, half_width)
        self._history = np.zeros(len(self._taps) - 1, dtype=np.float32)
        self._phase = 0

    @property
    def delay_samples(self) -> float:
        """Group delay of the filter, in output samples."""
        return (len(self._taps) - 1) / 2 / self.down

    def process(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Resample the next chunk of the stream."""
        if self.up == self.down:
            return samples.astype(np.float32)
        upsampled = np.zeros(len(samples) * self.up, dtype=np.float32)
        upsampled[:: self.up] = samples
        extended = np.concatenate([self._history, upsampled])
        filtered = np.convolve(extended, self._taps, mode="valid")
        self._history = extended[len(extended) - len(self._history) :]
        picked = filtered[self._phase :: self.down]
        # Where the next chunk's first kept sample falls, counted from its start.
        self._phase = (self._phase - len(filtered)) % self.down
        return picked.astype(np.float32)
