"""A session's configuration as sent in ``session.created`` / ``session.updated``: the SDK's
session models (GA), or the legacy beta ``transcription_session.updated`` shape."""

from __future__ import annotations

from typing import Any, Literal

from openai import BaseModel
from openai.types.realtime import (
    AudioTranscription,
    RealtimeAudioConfig,
    RealtimeAudioConfigInput,
    RealtimeAudioConfigOutput,
    RealtimeSessionCreateRequest,
    RealtimeTranscriptionSessionAudio,
    RealtimeTranscriptionSessionAudioInput,
    RealtimeTranscriptionSessionCreateRequest,
)
from openai.types.realtime.realtime_audio_formats import (
    AudioPCM,
    AudioPCMA,
    AudioPCMU,
    RealtimeAudioFormats,
)

from neuraldrive_audio.api.realtime.session_config import (
    AudioFormat,
    SessionConfig,
)


class BetaTranscriptionSessionUpdated(BaseModel):
    """The legacy ``transcription_session.updated``. Not the SDK's beta model: that one
    demands a ``client_secret`` (a WebRTC token we never issue) and only OpenAI's three
    model names."""

    type: Literal["transcription_session.updated"]
    event_id: str
    session: dict[str, Any]


def render_format(fmt: AudioFormat) -> RealtimeAudioFormats:
    """An audio format as the GA API writes it."""
    if fmt is AudioFormat.PCM:
        return AudioPCM(type="audio/pcm", rate=24000)
    if fmt is AudioFormat.PCMU:
        return AudioPCMU(type="audio/pcmu")
    return AudioPCMA(type="audio/pcma")


def _transcription(config: SessionConfig, model: str) -> AudioTranscription:
    return AudioTranscription(
        model=model,
        language=config.transcription.language,
        prompt=config.transcription.prompt or "",
    )


def _input(config: SessionConfig, model: str) -> dict[str, Any]:
    noise = config.noise_reduction
    return {
        "format": render_format(config.format),
        "transcription": _transcription(config, model),
        "noise_reduction": {"type": noise.get("type")} if noise else None,
        "turn_detection": config.turn_detection.render() if config.turn_detection else None,
    }


_INCLUDABLE = "item.input_audio_transcription.logprobs"


def _include(config: SessionConfig) -> Any:
    if config.include is None:
        return None
    return [name for name in config.include if name == _INCLUDABLE]


def render_transcription(
    config: SessionConfig, transcription_model: str
) -> RealtimeTranscriptionSessionCreateRequest:
    """The session of a transcription session."""
    audio = RealtimeTranscriptionSessionAudio(
        input=RealtimeTranscriptionSessionAudioInput.model_validate(
            _input(config, transcription_model)
        )
    )
    return RealtimeTranscriptionSessionCreateRequest(
        type="transcription", audio=audio, include=_include(config)
    )


def render_conversation(
    config: SessionConfig, model: str, transcription_model: str, voice: str
) -> RealtimeSessionCreateRequest:
    """The session of a conversation session (``type: "realtime"``); ``voice`` is the
    voice that speaks its replies."""
    audio = RealtimeAudioConfig(
        input=RealtimeAudioConfigInput.model_validate(_input(config, transcription_model)),
        output=RealtimeAudioConfigOutput(
            format=render_format(config.output_format), voice=voice, speed=config.speed
        ),
    )
    return RealtimeSessionCreateRequest(
        type="realtime",
        model=model,
        instructions=config.instructions,
        output_modalities=list(config.output_modalities),
        audio=audio,
        max_output_tokens=config.max_output_tokens,
        tool_choice=config.tool_choice.render(),
        tools=[tool.render() for tool in config.tools],
        tracing=None,
        truncation="auto",
        prompt=None,
        include=_include(config),
    )


def render_beta(config: SessionConfig, session_id: str, model: str) -> dict[str, Any]:
    """The session object of the legacy ``transcription_session.updated``."""
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "modalities": ["text"],
        "input_audio_format": config.format.beta_name,
        "input_audio_transcription": _transcription(config, model).model_dump(),
        "input_audio_noise_reduction": config.noise_reduction,
        "turn_detection": config.turn_detection and config.turn_detection.render(),
        "include": config.include,
    }
