"""A tiny text-to-speech engine that lives in the test suite: one beep per word.

It is an engine plug-in like the built-in ones and reaches the service only through the
registry: the ``engine_plugins`` setting (``["tests.tone_engine"]``) makes the CLI, the
API and every worker import it. Nothing else in the package knows it exists.

Model directory: ``tone.json`` with ``{"voices": {"<name>": <pitch Hz>, ...},
"sample_rate": <Hz>, "word_s": <seconds per beep>}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

import numpy as np

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines.base import EngineInputError
from neuraldrive_audio.engines.plugin import EngineKind, EnginePlugin, ModelFilesError
from neuraldrive_audio.media.samples import FloatAudio
from neuraldrive_audio.storage.manifest import ModelManifest

NAME: Final = "tone"
CONFIG_FILE: Final = "tone.json"
GAP_FRACTION: Final = 0.5
"""Silence after each beep, as a share of the beep's length."""
_WORD = re.compile(r"\w+")


class ToneEngine:
    """Beeps at the voice's pitch, one per word; ``speed`` shortens beeps and gaps."""

    def __init__(
        self, manifest: ModelManifest, pitches: dict[str, float], sample_rate: int, word_s: float
    ) -> None:
        self.manifest = manifest
        self.sample_rate = sample_rate
        self._pitches = pitches
        self._word_s = word_s

    @property
    def voices(self) -> list[str]:
        """The configured voice names."""
        return sorted(self._pitches)

    def synthesize(self, sentence: str, voice: str, speed: float) -> FloatAudio:
        """One beep per word of ``sentence``, each followed by a short silence."""
        if voice not in self._pitches:
            raise EngineInputError(f"unknown voice {voice!r}", "voice")
        beep = int(self.sample_rate * self._word_s / speed)
        t = np.arange(beep, dtype=np.float32) / self.sample_rate
        tone = (0.5 * np.sin(2 * np.pi * self._pitches[voice] * t)).astype(np.float32)
        gap = np.zeros(int(beep * GAP_FRACTION), dtype=np.float32)
        words = len(_WORD.findall(sentence))
        return np.concatenate([np.concatenate([tone, gap])] * words) if words else gap[:0]

    def close(self) -> None:
        """Forget the voices (there is no other memory to free)."""
        self._pitches = {}


def load(
    manifest: ModelManifest, model_dir: Path, settings: Settings, device: Device
) -> ToneEngine:
    """Read the model's configuration; the device does not matter to a tone generator."""
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    pitches = {str(k): float(v) for k, v in config["voices"].items()}
    return ToneEngine(manifest, pitches, int(config["sample_rate"]), float(config["word_s"]))


def recognises(paths: Collection[str]) -> bool:
    """A ``tone.json`` at the root."""
    return CONFIG_FILE in paths


def select_files(paths: Collection[str]) -> dict[str, str]:
    """Just the configuration."""
    if CONFIG_FILE not in paths:
        raise ModelFilesError(f"no {CONFIG_FILE}")
    return {CONFIG_FILE: CONFIG_FILE}


def read_voices(files: Mapping[str, Path]) -> list[str]:
    """The voice names in the configuration."""
    return sorted(json.loads(files[CONFIG_FILE].read_text())["voices"])


PLUGIN = EnginePlugin(
    name=NAME,
    kind=EngineKind.TEXT_TO_SPEECH,
    load=load,
    recognises=recognises,
    select_files=select_files,
    read_voices=read_voices,
)
