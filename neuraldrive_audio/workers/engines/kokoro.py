"""Kokoro-82M text-to-speech on ONNX Runtime (kokoro-onnx), one sentence per call.

Model directory: ``model.onnx`` and ``voices.npz`` (one style array per voice).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import numpy as np
from kokoro_onnx import Kokoro

from neuraldrive_audio.config import get_settings
from neuraldrive_audio.media.resample import time_stretch
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.media.voice_mix import VoiceSpecError, parse_voice_mix
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.workers.engines.base import EngineInputError
from neuraldrive_audio.workers.engines.onnx_runtime import create_session

MODEL_FILE: Final = "model.onnx"
VOICES_FILE: Final = "voices.npz"
SAMPLE_RATE: Final = 24000
DEFAULT_LANGUAGE: Final = "en-us"

# What the API accepts, and what the Kokoro graph accepts; the rest is time-stretched.
MIN_SPEED, MAX_SPEED = 0.25, 4.0
MODEL_MIN_SPEED, MODEL_MAX_SPEED = 0.5, 2.0

# kokoro-onnx trims the silence around each piece it speaks. Speaking sentence by
# sentence, we add back the pause it would have put between two of them.
SENTENCE_PAUSE_S: Final = 0.25

_ESPEAK_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


class KokoroEngine:
    """A loaded Kokoro model; ``synthesize`` is blocking and meant for a worker thread."""

    sample_rate: int = SAMPLE_RATE

    def __init__(self, manifest: ModelManifest, kokoro: Kokoro, language: str) -> None:
        self.manifest = manifest
        self.language = language
        self._kokoro = kokoro
        # Read every style array once: the npz is a zip, indexing it decompresses again.
        self._styles = {name: np.asarray(kokoro.voices[name]) for name in kokoro.voices}

    @property
    def voices(self) -> list[str]:
        """Voice names; ``synthesize`` also takes mixes such as ``"a(2)+b(1)"``."""
        return sorted(self._styles)

    def synthesize(self, sentence: str, voice: str, speed: float) -> FloatAudio:
        """Speak one sentence at ``speed`` (0.25-4.0) in ``voice`` or a mix of voices.

        Returns mono float32 at 24 kHz, ending with a short sentence pause; empty when the
        sentence has nothing to pronounce.
        """
        style = self.voice_style(voice)
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise EngineInputError(f"speed must be {MIN_SPEED}-{MAX_SPEED}, got {speed}", "speed")
        if not any(ch.isalnum() for ch in sentence):
            return np.zeros(0, dtype=np.float32)
        model_speed = min(max(speed, MODEL_MIN_SPEED), MODEL_MAX_SPEED)
        audio, _ = self._kokoro.create(sentence, voice=style, speed=model_speed, lang=self.language)
        pause = np.zeros(int(SAMPLE_RATE * SENTENCE_PAUSE_S / model_speed), dtype=np.float32)
        spoken = np.concatenate([np.asarray(audio, dtype=np.float32), pause])
        if model_speed != speed:
            spoken = time_stretch(spoken, SAMPLE_RATE, speed / model_speed)
        return spoken

    def voice_style(self, voice: str) -> FloatAudio:
        """The style array for a voice name or a weighted mix like ``"a(2)+b(1)"``.

        Parts without a weight count 1; the mix is the weighted mean of the parts' arrays.
        Raises EngineInputError (param ``voice``) for unknown names or bad syntax.
        """
        try:
            parts = parse_voice_mix(voice, self.voices)
        except VoiceSpecError as exc:
            raise EngineInputError(str(exc), "voice") from exc
        weighted = [(self._styles[name], weight) for name, weight in parts]
        total = sum(weight for _, weight in weighted)
        if len(weighted) == 1:
            return weighted[0][0]
        mixed = sum(style * (weight / total) for style, weight in weighted)
        return np.asarray(mixed, dtype=np.float32)

    def close(self) -> None:
        """Drop the ONNX session and voices so their memory can be freed."""
        self._styles.clear()
        voices = self._kokoro.voices
        if hasattr(voices, "close"):
            voices.close()
        del self._kokoro


def espeak_language(languages: list[str]) -> str:
    """The espeak-ng language for the phonemizer: the manifest's first, if it is one.

    A bare ``en`` means American English, which Kokoro's English voices speak.
    """
    if languages:
        code = languages[0].strip().lower().replace("_", "-")
        if code == "en":
            return DEFAULT_LANGUAGE
        if _ESPEAK_CODE.match(code):
            return code
    return DEFAULT_LANGUAGE


def load(
    manifest: ModelManifest, model_dir: Path, device: str, *, threads: int | None = None
) -> KokoroEngine:
    """Load a Kokoro model from the store on ``device`` ("cpu", "cuda", "cuda:N").

    ``threads`` defaults to the configured ``cpu_threads`` (0: ONNX Runtime's choice).
    """
    session = create_session(
        model_dir / MODEL_FILE,
        device,
        get_settings().cpu_threads if threads is None else threads,
    )
    kokoro = Kokoro.from_session(session, str(model_dir / VOICES_FILE))
    return KokoroEngine(manifest, kokoro, espeak_language(manifest.languages))
