"""``neuraldrive-audio models ...``: inspect and change the model store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neuraldrive_audio.config import Settings
from neuraldrive_audio.storage.manifest import MANIFEST_NAME, EngineKind, ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore


def detect_engine(path: Path) -> EngineKind:
    """Guess the engine from the files of a model directory."""
    names = {p.name for p in path.iterdir()}
    if "model.bin" in names:
        return EngineKind.WHISPER
    if any(n.endswith(".onnx.json") for n in names):
        return EngineKind.PIPER
    if any(n.endswith(".npz") for n in names):
        return EngineKind.KOKORO
    sys.exit(f"cannot tell the engine of {path}; pass --engine")


def _voices(engine: EngineKind, path: Path) -> list[str]:
    if engine is EngineKind.PIPER:
        config = next(path.glob("*.onnx.json"))
        speakers = json.loads(config.read_text()).get("speaker_id_map") or {}
        return sorted(speakers) or [config.name.removesuffix(".onnx.json")]
    if engine is EngineKind.KOKORO:
        import numpy as np

        return sorted(np.load(next(path.glob("*.npz"))).files)
    return []


def _layout(engine: EngineKind, path: Path) -> dict[str, Path]:
    """Map the files of a source directory to the store's names for this engine."""
    if engine is EngineKind.PIPER:
        onnx = next(path.glob("*.onnx"))
        return {"model.onnx": onnx, "model.onnx.json": Path(f"{onnx}.json")}
    if engine is EngineKind.KOKORO:
        return {"model.onnx": next(path.glob("*.onnx")), "voices.npz": next(path.glob("*.npz"))}
    return {p.name: p for p in path.iterdir() if p.is_file() and p.name != MANIFEST_NAME}


def import_model(
    store: ModelStore, path: Path, model_id: str | None, engine: str | None
) -> ModelManifest:
    """Copy a model directory into the store with a manifest."""
    kind = EngineKind(engine) if engine else detect_engine(path)
    manifest = ModelManifest(
        id=model_id or path.name,
        engine=kind,
        files=[],
        bytes_on_disk=0,
        voices=_voices(kind, path),
        source=f"import:{path.name}",
    )
    return store.install(_layout(kind, path), manifest)


def run(args: argparse.Namespace, settings: Settings) -> None:
    """Dispatch a ``models`` subcommand."""
    store = ModelStore(settings.resolved_models_dir)
    if args.models_command == "list":
        for m in store.list():
            size = m.bytes_on_disk / 1e6
            print(f"{m.id:40} {m.engine.value:8} {size:8.1f} MB  {','.join(m.voices[:5])}")
    elif args.models_command == "import":
        manifest = import_model(store, Path(args.path), args.id, args.engine)
        print(f"imported {manifest.id} ({manifest.engine.value}) into {store.path_of(manifest)}")
