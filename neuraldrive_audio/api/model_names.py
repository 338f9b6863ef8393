"""Resolving what a client calls a model (an id or an OpenAI alias) to an installed model."""

from __future__ import annotations

from neuraldrive_audio.api.errors import APIError, model_not_found
from neuraldrive_audio.config import Settings
from neuraldrive_audio.storage.catalog import ModelCatalog
from neuraldrive_audio.storage.manifest import ModelManifest

ASR_ALIASES = ("whisper-1",)
TTS_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


def alias_target(name: str, settings: Settings) -> str | None:
    """The model id an OpenAI alias stands for, or None when ``name`` is no alias."""
    if name in ASR_ALIASES:
        return settings.default_asr_model
    if name in TTS_ALIASES:
        return settings.default_tts_model
    return None


def installed_model(name: str, catalog: ModelCatalog, settings: Settings) -> ModelManifest:
    """The installed model a client calls ``name`` (an id or an alias); 404 when unknown."""
    manifest = catalog.find(alias_target(name, settings) or name)
    if manifest is None:
        raise model_not_found(name)
    return manifest


def resolve_model(
    name: str, catalog: ModelCatalog, settings: Settings, *, speech_to_text: bool
) -> ModelManifest:
    """The installed model for ``name``; 404 when unknown, 400 when of the wrong kind."""
    manifest = installed_model(name, catalog, settings)
    if manifest.engine.is_speech_to_text != speech_to_text:
        wanted = "speech-to-text" if speech_to_text else "text-to-speech"
        raise APIError(
            400,
            f"The model '{name}' is a {manifest.engine.value} model, not a {wanted} model.",
            code="invalid_model",
            param="model",
        )
    return manifest
