"""Server VAD for a session: the input rate -> 16 kHz, Silero, turn decisions on the timeline."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from neuraldrive_audio.media.pcm import StreamingResampler, s16_to_float
from neuraldrive_audio.media.vad import SAMPLE_RATE, StreamingVAD, TurnEvent, TurnSettings


class TurnDetectionDriver:
    """Runs the VAD over a session's audio from timeline position ``offset_ms`` on.

    A new driver is made whenever turn detection is (re)configured or the buffer is
    cleared, so its decisions are shifted by where it started. ``process`` does CPU work
    (well under 1 ms per 32 ms frame); the session calls it in a thread.
    """

    def __init__(self, input_rate: int, settings: TurnSettings, offset_ms: int) -> None:
        self.settings = settings
        self._offset_ms = offset_ms
        self._resampler = StreamingResampler(input_rate, SAMPLE_RATE)
        self._vad = StreamingVAD(settings)

    @property
    def in_speech(self) -> bool:
        """True between speech_started and speech_stopped."""
        return self._vad.detector.in_speech

    @property
    def pause_ms(self) -> int:
        """How long the speech in progress has been quiet so far (see TurnDetector)."""
        return self._vad.detector.pause_ms

    def process(self, samples: npt.NDArray[np.int16]) -> list[TurnEvent]:
        """Feed appended samples; returns decisions with times on the session timeline."""
        events = self._vad.process(self._resampler.process(s16_to_float(samples)))
        return [TurnEvent(e.kind, e.audio_ms + self._offset_ms) for e in events]
