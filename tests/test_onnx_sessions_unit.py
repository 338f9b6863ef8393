"""ONNX Runtime sessions of the TTS engines: pool threads spin only when asked to."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuraldrive_audio.config import Device
from neuraldrive_audio.engines.onnx_runtime import create_session
from neuraldrive_audio.engines.piper import MODEL_FILE
from neuraldrive_audio.storage.model_store import ModelStore

SPINNING = "session.intra_op.allow_spinning"


@pytest.mark.parametrize(("spinning", "entry"), [(False, "0"), (True, "1")])
def test_thread_spinning_is_set_on_the_session(
    spinning: bool, entry: str, models_dir: Path
) -> None:
    store = ModelStore(models_dir)
    manifest = next(m for m in store.list() if m.engine == "piper")
    session = create_session(store.path_of(manifest) / MODEL_FILE, Device("cpu"), 1, spinning)
    assert session.get_session_options().get_session_config_entry(SPINNING) == entry
