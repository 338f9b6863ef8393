"""The engines this process knows: the built-in plug-ins plus those named in settings.

A plug-in module defines ``PLUGIN`` (an :class:`EnginePlugin`) and imports its runtime
(ONNX Runtime, CTranslate2, ...) only inside its loader, so the API and the CLI can ask
the registry about every engine without paying for any of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterable

from neuraldrive_audio.engines.plugin import EngineKind, EnginePlugin, ModelFilesError
from neuraldrive_audio.storage.manifest import ModelManifest

BUILTIN_MODULES = (
    # Order matters for recognising files: the first plug-in that recognises them wins.
    "neuraldrive_audio.engines.whisper",
    "neuraldrive_audio.engines.piper",
    "neuraldrive_audio.engines.kokoro",
)

_plugins: dict[str, EnginePlugin] = {}


class UnknownEngineError(LookupError):
    """No registered engine has that name."""


def register(plugin: EnginePlugin) -> EnginePlugin:
    """Add (or replace) an engine; returns it."""
    _plugins[plugin.name] = plugin
    return plugin


def import_plugins(modules: Iterable[str]) -> list[EnginePlugin]:
    """Import plug-in modules by dotted name and register the ``PLUGIN`` each defines."""
    added = []
    for name in modules:
        plugin = importlib.import_module(name).PLUGIN
        if not isinstance(plugin, EnginePlugin):
            raise TypeError(f"{name}.PLUGIN is not an EnginePlugin")
        added.append(register(plugin))
    return added


def _ensure_builtins() -> None:
    if not _plugins:
        import_plugins(BUILTIN_MODULES)


def plugins() -> list[EnginePlugin]:
    """Every registered engine, built-ins first."""
    _ensure_builtins()
    return list(_plugins.values())


def names(kind: EngineKind | None = None) -> list[str]:
    """Names of the registered engines (of one kind, if given)."""
    return [p.name for p in plugins() if kind is None or p.kind is kind]


def get(name: str) -> EnginePlugin:
    """The engine called ``name``; UnknownEngineError if none is registered."""
    _ensure_builtins()
    try:
        return _plugins[name]
    except KeyError:
        raise UnknownEngineError(f"unknown engine {name!r}; known: {', '.join(_plugins)}") from None


def of(manifest: ModelManifest) -> EnginePlugin:
    """The engine that runs an installed model."""
    return get(manifest.engine)


def recognise(paths: Collection[str]) -> EnginePlugin:
    """The first engine that recognises these relative file paths; ModelFilesError if none."""
    for plugin in plugins():
        if plugin.recognises(paths):
            return plugin
    raise ModelFilesError("cannot tell the engine from the files; pass --engine")
