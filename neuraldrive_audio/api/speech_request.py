"""The body of a speech request and the voice it names (shared by /speech and /jobs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.model_names import mapped_voice, voice_aliases
from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines import registry
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.voice_mix import VoiceSpecError, parse_voice_mix
from neuraldrive_audio.storage.manifest import ModelManifest

MAX_INPUT_CHARS = 4096
# Usage is reported the way OpenAI shapes it; we have no tokenizer for it, so these are
# stated estimates: ~4 characters per text token, one audio token per 20 ms of audio.
CHARS_PER_TOKEN = 4
AUDIO_TOKENS_PER_SECOND = 50


class VoiceRef(BaseModel):
    """The object form of ``voice`` (custom voices are referenced by id)."""

    id: str


class SpeechRequest(BaseModel):
    """Body of POST /v1/audio/speech."""

    model: str
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    voice: str | VoiceRef
    response_format: SpeechFormat = SpeechFormat.MP3
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(
        default=None,
        description="Accepted and ignored (our models take no style prompt); clients send "
        "null (Agents SDK) or the string 'None' (Home Assistant).",
    )
    stream_format: Literal["audio", "sse"] = "audio"

    @field_validator("input")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input must contain text to speak")
        return value

    @property
    def voice_name(self) -> str:
        """The voice as a string, whichever form it came in."""
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice


def resolve_voice(requested: str, manifest: ModelManifest, settings: Settings) -> str:
    """A voice of ``manifest``: itself, ``default``/an OpenAI name mapped, or a mix (for
    engines that mix voices)."""
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


def _voice_error(message: str) -> APIError:
    return APIError(400, message, code="invalid_voice", param="voice")
