"""Streaming voice activity detection with the Silero VAD that faster-whisper ships (ONNX).

:class:`SileroStream` turns 16 kHz audio into one speech probability per 32 ms frame,
carrying the model's recurrent state between calls. :class:`TurnDetector` turns those
probabilities into turns: speech starts when a frame reaches ``threshold`` and stops after
``silence_duration_ms`` of frames below a lower release threshold (hysteresis, so a
word that dips under the threshold does not end a turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime
from faster_whisper.utils import get_assets_path

SAMPLE_RATE = 16000
"""The rate Silero VAD runs at."""

FRAME_SAMPLES = 512
"""Samples per model call (32 ms at 16 kHz)."""

FRAME_MS = FRAME_SAMPLES * 1000 // SAMPLE_RATE

_CONTEXT_SAMPLES = 64  # the v5/v6 models see the tail of the previous frame


def default_model_path() -> Path:
    """The Silero VAD ONNX file inside the installed faster-whisper."""
    return Path(get_assets_path()) / "silero_vad_v6.onnx"


@cache
def load_model(path: Path) -> onnxruntime.InferenceSession:
    """One shared inference session per file; ``run`` is safe from several threads."""
    options = onnxruntime.SessionOptions()
    # One thread: a frame is well under 1 ms of work, and more threads only add contention with
    # the other sessions (and the workers) on a small CPU.
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"], sess_options=options
    )


class SileroStream:
    """Speech probabilities for a 16 kHz float stream, one per 512-sample frame."""

    def __init__(self, model: onnxruntime.InferenceSession | None = None) -> None:
        self._model = model or load_model(default_model_path())
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: npt.NDArray[np.float32]) -> list[float]:
        """Feed audio; returns the probability of every frame completed by it."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float32)])
        probabilities: list[float] = []
        while len(self._pending) >= FRAME_SAMPLES:
            frame, self._pending = (
                self._pending[:FRAME_SAMPLES],
                self._pending[FRAME_SAMPLES:],
            )
            window = np.concatenate([self._context, frame])[np.newaxis, :]
            output, self._h, self._c = self._model.run(
                None, {"input": window, "h": self._h, "c": self._c}
            )
            self._context = frame[-_CONTEXT_SAMPLES:]
            probabilities.append(float(np.asarray(output).reshape(-1)[0]))
        return probabilities


@dataclass(frozen=True)
class TurnSettings:
    """Server VAD parameters, as OpenAI names them."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


class TurnEventKind(StrEnum):
    """What the detector decided."""

    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"


@dataclass(frozen=True)
class TurnEvent:
    """A decision, with times in ms from the start of the stream.

    For a start, ``audio_ms`` is where the turn's audio begins (onset minus the prefix
    padding); for a stop, it is where the silence that ended the turn was long enough.
    """

    kind: TurnEventKind
    audio_ms: int


class TurnDetector:
    """Start/stop decisions over a stream of frame probabilities."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._release = max(settings.threshold - 0.15, 0.01)
        self._frames = 0
        self._in_speech = False
        self._silent_frames = 0

    @property
    def in_speech(self) -> bool:
        """True between a start and its stop."""
        return self._in_speech

    @property
    def pause_ms(self) -> int:
        """How long the speech in progress has been quiet so far (0 outside speech, and
        whenever speech is heard): a stop comes when it reaches ``silence_duration_ms``."""
        return self._silent_frames * FRAME_MS if self._in_speech else 0

    def feed(self, probabilities: list[float]) -> list[TurnEvent]:
        """Advance by one frame per probability; returns the decisions taken."""
        events: list[TurnEvent] = []
        silence_frames = max(1, -(-self.settings.silence_duration_ms // FRAME_MS))
        for probability in probabilities:
            self._frames += 1
            now_ms = self._frames * FRAME_MS
            if not self._in_speech:
                if probability >= self.settings.threshold:
                    self._in_speech = True
                    self._silent_frames = 0
                    onset_ms = now_ms - FRAME_MS
                    start_ms = max(0, onset_ms - self.settings.prefix_padding_ms)
                    events.append(TurnEvent(TurnEventKind.SPEECH_STARTED, start_ms))
                continue
            self._silent_frames = self._silent_frames + 1 if probability < self._release else 0
            if self._silent_frames >= silence_frames:
                self._in_speech = False
                events.append(TurnEvent(TurnEventKind.SPEECH_STOPPED, now_ms))
        return events


class StreamingVAD:
    """Silero plus turn decisions over one 16 kHz stream."""

    def __init__(self, settings: TurnSettings, model: onnxruntime.InferenceSession | None = None):
        self._silero = SileroStream(model)
        self.detector = TurnDetector(settings)

    def process(self, samples: npt.NDArray[np.float32]) -> list[TurnEvent]:
        """Feed 16 kHz audio; returns the turn decisions it caused."""
        return self.detector.feed(self._silero.process(samples))
