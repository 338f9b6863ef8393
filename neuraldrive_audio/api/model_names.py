"""What clients call models and voices, resolved to installed models and their voices.

Clients send OpenAI's names: model families such as ``gpt-4o-mini-transcribe`` (often as a
dated snapshot, ``gpt-4o-mini-transcribe-2025-12-15``) and the built-in voice names. The
families map to installed models through ``Settings.asr_model_aliases`` /
``tts_model_aliases``; the voice names map to voices of every text-to-speech model.
"""

from __future__ import annotations

import re

from neuraldrive_audio.api.errors import APIError, model_not_found
from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest

OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "nova",
    "onyx", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip
"""OpenAI's built-in voices; every text-to-speech model answers to all of them."""

DEFAULT_VOICE = "default"
"""Sent by some clients (Piper documents it); means the model's first voice."""

DIARIZE_FAMILIES = ("gpt-4o-transcribe-diarize",)

# What may follow a family name in a snapshot: dates (-2025-12-15), old-style -1106,
# -preview, -latest. Anything else (-diarize, -foo) is a different model.
_SNAPSHOT_SUFFIX = re.compile(r"(?:-(?:\d+|preview|latest))*")


def _family(name: str, families: list[str]) -> str | None:
    """The family ``name`` belongs to (longest match first: ``tts-1-hd`` before ``tts-1``)."""
    for family in sorted(families, key=len, reverse=True):
        if name.startswith(family) and _SNAPSHOT_SUFFIX.fullmatch(name[len(family) :]):
            return family
    return None


def alias_target(name: str, settings: Settings) -> str | None:
    """The model id an OpenAI model name stands for, or None when ``name`` is none."""
    for aliases, default in (
        (settings.asr_model_aliases, settings.default_asr_model),
        (settings.tts_model_aliases, settings.default_tts_model),
    ):
        family = _family(name, list(aliases))
        if family is not None:
            return aliases[family] or default
    return None


def alias_names(settings: Settings) -> list[str]:
    """The family names (no snapshots) that ``GET /v1/models`` lists."""
    return [*settings.asr_model_aliases, *settings.tts_model_aliases]


def speech_model_names(catalog: ModelCatalog, settings: Settings) -> list[str]:
    """Installed text-to-speech model ids, then the OpenAI TTS names that reach one."""
    names = [m.id for m in catalog.all() if not registry.of(m).is_speech_to_text]
    for alias in settings.tts_model_aliases:
        target = catalog.find(alias_target(alias, settings) or "")
        if target is not None and not registry.of(target).is_speech_to_text and alias not in names:
            names.append(alias)
    return names


def _refuse_diarization(name: str) -> None:
    if _family(name, list(DIARIZE_FAMILIES)) is not None:
        raise APIError(
            400,
            f"The model '{name}' diarizes speakers; diarization is not available on this "
            "server. Use a transcription model such as gpt-4o-transcribe or whisper-1.",
            code="diarization_not_available",
            param="model",
        )


def installed_model(name: str, catalog: ModelCatalog, settings: Settings) -> ModelManifest:
    """The installed model a client calls ``name`` (an id wins over an alias); 404 if none."""
    manifest = catalog.find(name)
    if manifest is not None:
        return manifest
    _refuse_diarization(name)
    target = alias_target(name, settings)
    manifest = catalog.find(target) if target is not None else None
    if manifest is None:
        raise model_not_found(name)
    return manifest


def resolve_model(
    name: str, catalog: ModelCatalog, settings: Settings, *, speech_to_text: bool
) -> ModelManifest:
    """The installed model for ``name``; 404 when unknown, 400 when of the wrong kind."""
    manifest = installed_model(name, catalog, settings)
    if registry.of(manifest).is_speech_to_text != speech_to_text:
        wanted = "speech-to-text" if speech_to_text else "text-to-speech"
        raise APIError(
            400,
            f"The model '{name}' is a {manifest.engine} model, not a {wanted} model.",
            code="invalid_model",
            param="model",
        )
    return manifest


def voice_aliases(manifest: ModelManifest, settings: Settings) -> dict[str, str]:
    """``default``, every OpenAI voice name and configured aliases -> a voice of ``manifest``.

    Per-model configuration first, then the global map when the model has that voice;
    otherwise the n-th OpenAI voice takes the model's (n mod count)-th voice, so distinct
    names stay distinct voices as far as the model has them.
    """
    voices = manifest.voices
    if not voices:
        return {}
    per_model = settings.model_voice_aliases.get(manifest.id, {})
    mapping = {DEFAULT_VOICE: voices[0]}
    configured = [*per_model, *settings.voice_aliases]
    for index, name in enumerate([*OPENAI_VOICES, *configured]):
        target = next(
            (v for v in (per_model.get(name), settings.voice_aliases.get(name)) if v in voices),
            None,
        )
        if target is None and index < len(OPENAI_VOICES):
            target = voices[index % len(voices)]
        if target is not None:
            mapping.setdefault(name.lower(), target)
    return mapping


def mapped_voice(requested: str, manifest: ModelManifest, settings: Settings) -> str | None:
    """The model's voice for ``requested`` when it is one of its voices or an alias."""
    if requested in manifest.voices:
        return requested
    return voice_aliases(manifest, settings).get(requested.lower())
