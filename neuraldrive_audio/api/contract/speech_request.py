"""The body of a speech request (shared by /speech and /jobs); what its model and voice
mean is the speech service's to say (``SpeechService.resolve_voice``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from neuraldrive_audio.media.formats import SpeechFormat

MAX_INPUT_CHARS = 4096


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
