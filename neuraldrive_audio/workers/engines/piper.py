"""Piper (VITS) text-to-speech on ONNX Runtime, one sentence per call.

Model directory: ``model.onnx`` and its config ``model.onnx.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from neuraldrive_audio.config import get_settings
from neuraldrive_audio.media.resample import time_stretch
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.workers.engines.base import EngineInputError
from neuraldrive_audio.workers.engines.onnx_runtime import create_session

MODEL_FILE: Final = "model.onnx"
CONFIG_FILE: Final = "model.onnx.json"
DEFAULT_VOICE: Final = "default"
MIN_SPEED, MAX_SPEED = 0.25, 4.0
# Above ~1.5x the duration predictor stops shortening phonemes (asking for 4x gives
# ~2.1x), so faster speeds are reached by time-stretching audio made at this speed.
MODEL_MAX_SPEED: Final = 1.5

# Piper scales each sentence to full scale; a little headroom keeps lossy encoders
# (mp3, aac) from clipping the peaks they overshoot.
_VOLUME: Final = 0.9


class PiperEngine:
    """A loaded Piper voice; ``synthesize`` is blocking and meant for a worker thread."""

    def __init__(self, manifest: ModelManifest, voice: PiperVoice) -> None:
        self.manifest = manifest
        self._voice = voice
        self.sample_rate: int = voice.config.sample_rate
        speaker_ids: dict[str, int] = dict(voice.config.speaker_id_map)
        if voice.config.num_speakers <= 1 or not speaker_ids:
            # A single-speaker model has one voice: the model's own name.
            name = manifest.voices[0] if manifest.voices else manifest.id.rsplit("/", 1)[-1]
            speaker_ids = {name: voice.config.default_speaker_id}
        self._speaker_ids = speaker_ids

    @property
    def voices(self) -> list[str]:
        """Speaker names; ``"default"`` is accepted as well and means the model's default."""
        return sorted(self._speaker_ids)

    def speaker_id(self, voice: str) -> int:
        """The model's speaker index for ``voice``; EngineInputError if it has none such."""
        if voice == DEFAULT_VOICE:
            return int(self._voice.config.default_speaker_id)
        if voice not in self._speaker_ids:
            raise EngineInputError(
                f"unknown voice {voice!r}; available: {', '.join(self.voices)}", "voice"
            )
        return self._speaker_ids[voice]

    def synthesize(self, sentence: str, voice: str, speed: float) -> FloatAudio:
        """Speak one sentence at ``speed`` (0.25-4.0); mono float32 at ``sample_rate``.

        Empty when the sentence has nothing to pronounce.
        """
        speaker = self.speaker_id(voice)
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise EngineInputError(f"speed must be {MIN_SPEED}-{MAX_SPEED}, got {speed}", "speed")
        if not any(ch.isalnum() for ch in sentence):
            return np.zeros(0, dtype=np.float32)
        model_speed = min(speed, MODEL_MAX_SPEED)
        config = SynthesisConfig(
            speaker_id=speaker,
            # Relative to the voice's own tuning, which is not always 1.0.
            length_scale=self._voice.config.length_scale / model_speed,
            volume=_VOLUME,
        )
        # Piper's espeak front end may still cut a "sentence" in two; keep both parts.
        parts = [chunk.audio_float_array for chunk in self._voice.synthesize(sentence, config)]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(parts).astype(np.float32, copy=False)
        if model_speed != speed:
            audio = time_stretch(audio, self.sample_rate, speed / model_speed)
        return audio

    def close(self) -> None:
        """Drop the ONNX session so its memory can be freed."""
        del self._voice


def load(
    manifest: ModelManifest, model_dir: Path, device: str, *, threads: int | None = None
) -> PiperEngine:
    """Load a Piper voice from the store on ``device`` ("cpu", "cuda", "cuda:N").

    The session is built here rather than by ``PiperVoice.load``, which can pick
    neither the GPU index nor the thread count. ``threads`` defaults to the configured
    ``cpu_threads`` (0: ONNX Runtime's choice).
    """
    config = PiperConfig.from_dict(json.loads((model_dir / CONFIG_FILE).read_text("utf-8")))
    session = create_session(
        model_dir / MODEL_FILE,
        device,
        get_settings().cpu_threads if threads is None else threads,
    )
    return PiperEngine(manifest, PiperVoice(session=session, config=config))
