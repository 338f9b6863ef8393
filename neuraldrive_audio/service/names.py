"""What clients call models and voices, resolved to installed models and their voices.

Clients send OpenAI's names: model families such as ``gpt-4o-mini-transcribe`` (often as a
dated snapshot, ``gpt-4o-mini-transcribe-2025-12-15``) and the built-in voice names. The
families map to installed models through ``Settings.asr_model_aliases`` /
``tts_model_aliases``; the voice names map to voices of every text-to-speech model.

One call answers each question a front door has:

- :func:`resolve_asr_model` — a speech-to-text model (None: the default);
- :func:`resolve_voice` — a text-to-speech model *and* one of its voices (None model: the
  default TTS model), as a :class:`ResolvedVoice`;
- :func:`resolve_reply_voice` — the same for the voice agent's spoken replies, where no model
  is named and ``voice_tts_policy`` may pick the fastest CPU voice;
- :func:`installed_model` — any installed model by id or alias (management, listings).

Failures are :class:`ServiceError`: ``not_found`` (``model_not_found``) for an unknown
model, ``invalid_request`` (``invalid_model``, ``invalid_voice``,
``diarization_not_available``) for the rest, each with its ``param``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.media.voice_mix import VoiceSpecError, parse_voice_mix
from neuraldrive_audio.service.errors import ErrorKind, ServiceError, model_not_found
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


@dataclass(frozen=True)
class ResolvedVoice:
    """An installed text-to-speech model and one of its voices (or a voice mix)."""

    model_id: str
    voice: str


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


def is_speech_to_text(manifest: ModelManifest) -> bool:
    """Whether the model transcribes (rather than speaks)."""
    return registry.of(manifest).is_speech_to_text


def speech_model_names(catalog: ModelCatalog, settings: Settings) -> list[str]:
    """Installed text-to-speech model ids, then the OpenAI TTS names that reach one."""
    names = [m.id for m in catalog.all() if not is_speech_to_text(m)]
    for alias in settings.tts_model_aliases:
        target = catalog.find(alias_target(alias, settings) or "")
        if target is not None and not is_speech_to_text(target) and alias not in names:
            names.append(alias)
    return names


def _refuse_diarization(name: str) -> None:
    if _family(name, list(DIARIZE_FAMILIES)) is not None:
        raise ServiceError(
            ErrorKind.INVALID_REQUEST,
            f"The model '{name}' diarizes speakers; diarization is not available on this "
            "server. Use a transcription model such as gpt-4o-transcribe or whisper-1.",
            code="diarization_not_available",
            param="model",
        )


def installed_model(name: str, catalog: ModelCatalog, settings: Settings) -> ModelManifest:
    """The installed model a client calls ``name`` (an id wins over an alias)."""
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
    """The installed model for ``name``, which must be of the wanted kind."""
    manifest = installed_model(name, catalog, settings)
    if is_speech_to_text(manifest) != speech_to_text:
        wanted = "speech-to-text" if speech_to_text else "text-to-speech"
        raise ServiceError(
            ErrorKind.INVALID_REQUEST,
            f"The model '{name}' is a {manifest.engine} model, not a {wanted} model.",
            code="invalid_model",
            param="model",
        )
    return manifest


def resolve_asr_model(name: str | None, catalog: ModelCatalog, settings: Settings) -> ModelManifest:
    """The speech-to-text model a client names (None: the default ASR model)."""
    return resolve_model(name or settings.default_asr_model, catalog, settings, speech_to_text=True)


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


def voice_of(requested: str, manifest: ModelManifest, settings: Settings) -> str:
    """A voice of ``manifest``: itself, ``default``/an OpenAI name mapped, or a mix (for
    engines that mix voices); ``invalid_voice`` otherwise."""
    voice = mapped_voice(requested, manifest, settings)
    if voice is not None:
        return voice
    aliases = ", ".join(voice_aliases(manifest, settings))
    if registry.of(manifest).voice_mixing:
        try:
            parse_voice_mix(requested, manifest.voices)
            return requested
        except VoiceSpecError as exc:
            raise _voice_error(f"{exc}; also accepted: {aliases}") from exc
    raise _voice_error(
        f"unknown voice {requested!r} for model {manifest.id}; "
        f"available: {', '.join(manifest.voices)}, {aliases}"
    )


def resolve_voice(
    model: str | None, voice: str, catalog: ModelCatalog, settings: Settings
) -> ResolvedVoice:
    """The text-to-speech model a client names (None: the default TTS model) and the voice
    of it that ``voice`` means, in one call. An OpenAI model alias paired with a voice of
    another installed model resolves to that model (a model named by its id never switches)."""
    name = model or settings.default_tts_model
    manifest = resolve_model(name, catalog, settings, speech_to_text=False)
    if catalog.find(name) is None and mapped_voice(voice, manifest, settings) is None:
        # An OpenAI alias (tts-1) with a voice another model owns: clients such as Open WebUI
        # pair every voice we list with one alias, so the voice's owner speaks it.
        manifest = voice_owner(voice, catalog) or manifest
    return ResolvedVoice(manifest.id, voice_of(voice, manifest, settings))


def voice_owner(voice: str, catalog: ModelCatalog) -> ModelManifest | None:
    """The installed text-to-speech model that has ``voice`` as one of its own voices."""
    return next((m for m in catalog.all() if not is_speech_to_text(m) and voice in m.voices), None)


def _voice_error(message: str) -> ServiceError:
    return ServiceError(ErrorKind.INVALID_REQUEST, message, code="invalid_voice", param="voice")


def fastest_cpu_speech_model(catalog: ModelCatalog) -> ModelManifest | None:
    """The installed text-to-speech model whose engine is fastest on a CPU (lowest
    ``cpu_real_time_factor``; engines that don't declare one are never chosen)."""
    timed = [
        (factor, manifest)
        for manifest in catalog.all()
        if not is_speech_to_text(manifest)
        and manifest.voices
        and (factor := registry.of(manifest).cpu_real_time_factor) is not None
    ]
    return min(timed, key=lambda pair: pair[0])[1] if timed else None


def resolve_reply_voice(
    voice: str, catalog: ModelCatalog, settings: Settings, *, gpu: bool
) -> ResolvedVoice:
    """The model and voice that speak a voice-agent reply in ``voice``.

    ``voice_tts_model`` set: that model, always. Otherwise, with the ``auto`` policy and no
    GPU worker (``gpu`` False), the fastest installed CPU model speaks ``voice`` when it is
    one of its voices or a name it answers to (OpenAI's names, ``default``); any other voice
    (one only the default model has, a mix) goes to the default model as
    :func:`resolve_voice` would send it.
    """
    if settings.voice_tts_model:
        return resolve_voice(settings.voice_tts_model, voice, catalog, settings)
    fast = None if gpu or settings.voice_tts_policy != "auto" else fastest_cpu_speech_model(catalog)
    if fast is not None:
        spoken = mapped_voice(voice, fast, settings)
        if spoken is not None:
            return ResolvedVoice(fast.id, spoken)
    return resolve_voice(None, voice, catalog, settings)
