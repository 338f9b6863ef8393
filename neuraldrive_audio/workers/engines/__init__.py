"""Engines, one module per engine, all behind the protocols in :mod:`.base`."""

from __future__ import annotations

import importlib
from pathlib import Path

from neuraldrive_audio.storage.manifest import EngineKind, ModelManifest
from neuraldrive_audio.workers.engines.base import Engine

# Imported lazily: a worker that only ever runs whisper never pays for ONNX Runtime.
_MODULES = {
    EngineKind.WHISPER: "neuraldrive_audio.workers.engines.whisper",
    EngineKind.KOKORO: "neuraldrive_audio.workers.engines.kokoro",
    EngineKind.PIPER: "neuraldrive_audio.workers.engines.piper",
}


def load_engine(manifest: ModelManifest, model_dir: Path, device: str) -> Engine:
    """Load a model with the engine its manifest names (blocking; call it in a thread)."""
    module = importlib.import_module(_MODULES[manifest.engine])
    engine: Engine = module.load(manifest, model_dir, device)
    return engine
