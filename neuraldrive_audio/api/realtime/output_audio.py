"""Reply audio in the session's output format: pcm16 24 kHz as it comes, or G.711 8 kHz."""

from __future__ import annotations

import numpy as np

from neuraldrive_audio.api.realtime.session_config import AudioFormat
from neuraldrive_audio.media import g711
from neuraldrive_audio.media.pcm import StreamingResampler, float_to_s16, s16_to_float
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE


class OutputEncoder:
    """Encodes one reply's pcm16 chunks; keeps the resampler's state across chunks."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._resampler = (
            StreamingResampler(OUTPUT_SAMPLE_RATE, g711.SAMPLE_RATE)
            if fmt is not AudioFormat.PCM
            else None
        )

    def encode(self, pcm: bytes) -> bytes:
        """``pcm`` (s16le, 24 kHz) in the output format."""
        if self._resampler is None:
            return pcm
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.int16)
        narrow = float_to_s16(self._resampler.process(s16_to_float(samples)))
        if self.format is AudioFormat.PCMU:
            return g711.encode_mulaw(narrow)
        return g711.encode_alaw(narrow)
