"""A session's configuration, read from GA ``session.update`` or legacy beta
``transcription_session.update`` events, and rendered back in the shape it came in.

Updates are partial: a field the client leaves out keeps its value; an explicit
``"turn_detection": null`` switches to manual commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neuraldrive_audio.api.realtime.protocol import ClientEventError
from neuraldrive_audio.api.realtime.tools import (
    FunctionTool,
    ToolChoice,
    read_tool_choice,
    read_tools,
)
from neuraldrive_audio.media import g711
from neuraldrive_audio.media.languages import language_code
from neuraldrive_audio.media.vad import TurnSettings

PCM_RATE = 24000
"""The only rate ``audio/pcm`` has in the Realtime API."""

# semantic_vad's eagerness maps to how long a pause ends the turn.
_EAGERNESS_SILENCE_MS = {"high": 300, "medium": 500, "auto": 500, "low": 900}


class AudioFormat(StrEnum):
    """Input audio formats (GA names)."""

    PCM = "audio/pcm"
    PCMU = "audio/pcmu"
    PCMA = "audio/pcma"

    @property
    def sample_rate(self) -> int:
        """Samples per second of this format."""
        return PCM_RATE if self is AudioFormat.PCM else g711.SAMPLE_RATE

    @property
    def beta_name(self) -> str:
        """The legacy beta name (``pcm16``, ``g711_ulaw``, ``g711_alaw``)."""
        return _BETA_NAMES[self]


_BETA_NAMES = {
    AudioFormat.PCM: "pcm16",
    AudioFormat.PCMU: "g711_ulaw",
    AudioFormat.PCMA: "g711_alaw",
}


class _Loose(BaseModel):
    # Clients send fields we don't act on (keywords, logprobs, ...); accept them.
    model_config = ConfigDict(extra="allow")


class Transcription(_Loose):
    """``audio.input.transcription`` / beta ``input_audio_transcription``."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class TurnDetection(_Loose):
    """``server_vad`` (or ``semantic_vad``, run as server_vad with an eagerness-derived pause)."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(default=300, ge=0, le=10_000)
    silence_duration_ms: int = Field(default=500, ge=0, le=10_000)
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    """Conversation sessions: answer a turn the VAD committed (None = yes)."""
    interrupt_response: bool | None = None
    """Conversation sessions: speech while a response runs cancels it (None = yes)."""

    @property
    def creates_response(self) -> bool:
        """Whether a VAD-committed turn gets a response."""
        return self.create_response is not False

    @property
    def interrupts_response(self) -> bool:
        """Whether speech cancels the response in progress (barge-in)."""
        return self.interrupt_response is not False

    def vad_settings(self) -> TurnSettings:
        """The detector parameters this stands for."""
        silence = self.silence_duration_ms
        if self.type == "semantic_vad":
            silence = _EAGERNESS_SILENCE_MS[self.eagerness or "auto"]
        return TurnSettings(self.threshold, self.prefix_padding_ms, silence)

    def render(self) -> dict[str, Any]:
        """As the client would send it (the fields the API defines for its type)."""
        fields = _SEMANTIC_FIELDS if self.type == "semantic_vad" else _SERVER_FIELDS
        return self.model_dump(include=fields, exclude_none=True)


_SERVER_FIELDS = {
    "type",
    "threshold",
    "prefix_padding_ms",
    "silence_duration_ms",
    "create_response",
    "interrupt_response",
}
_SEMANTIC_FIELDS = {"type", "eagerness", "create_response", "interrupt_response"}


SessionType = Literal["transcription", "realtime"]
Modality = Literal["text", "audio"]

DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant. Your answers are spoken aloud, so answer briefly, "
    "in plain sentences, without lists, markup or emoji."
)
"""The system prompt of a conversation session whose client sets no ``instructions``."""

DEFAULT_VOICE = "alloy"
"""OpenAI's default voice; mapped to a voice of the reply TTS model like every OpenAI name."""


class SessionConfig(BaseModel):
    """Everything a session's behaviour depends on."""

    type: SessionType = "transcription"
    format: AudioFormat = AudioFormat.PCM
    transcription: Transcription = Field(default_factory=Transcription)
    noise_reduction: dict[str, Any] | None = None
    turn_detection: TurnDetection | None = Field(default_factory=lambda: TurnDetection())
    include: list[str] | None = None
    # Conversation sessions (``type: "realtime"``) only:
    model: str | None = None
    """The client's model name (e.g. ``gpt-realtime``); None = the configured LLM."""
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: list[Modality] = Field(default_factory=lambda: list[Modality](["audio"]))
    output_format: AudioFormat = AudioFormat.PCM
    voice: str = DEFAULT_VOICE
    speed: float = Field(default=1.0, ge=0.25, le=1.5)
    max_output_tokens: int | Literal["inf"] = "inf"
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()


@dataclass(frozen=True)
class ConfigLimits:
    """Caps on what a client may configure (it all goes to the LLM with every response)."""

    max_instructions_chars: int = 32_768
    max_tools: int = 128
    max_tools_bytes: int = 65_536


def _model(cls: type[BaseModel], value: object, param: str) -> Any:
    if not isinstance(value, dict):
        raise ClientEventError(f"'{param}' must be an object.", param=param)
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join([param, *(str(p) for p in first["loc"])])
        raise ClientEventError(
            f"Invalid value for '{where}': {first['msg']}.", param=where
        ) from exc


def ga_format(value: object, param: str = "session.audio.input.format") -> AudioFormat:
    """An audio format object (``{"type": "audio/pcm", "rate": 24000}``, ...)."""
    if not isinstance(value, dict) or "type" not in value:
        raise ClientEventError(f"'{param}' must be an object with a 'type'.", param=param)
    try:
        fmt = AudioFormat(value["type"])
    except ValueError as exc:
        raise ClientEventError(
            f"Unsupported audio format '{value['type']}'; use audio/pcm, audio/pcmu or audio/pcma.",
            param=param,
        ) from exc
    if fmt is AudioFormat.PCM and value.get("rate", PCM_RATE) != PCM_RATE:
        raise ClientEventError("audio/pcm must be 24000 Hz.", param=param + ".rate")
    return fmt


def _beta_format(value: object) -> AudioFormat:
    for fmt, name in _BETA_NAMES.items():
        if value == name:
            return fmt
    raise ClientEventError(
        f"Unsupported input_audio_format '{value}'; use pcm16, g711_ulaw or g711_alaw.",
        param="session.input_audio_format",
    )


def _transcription(value: object, param: str) -> Transcription:
    transcription: Transcription = _model(Transcription, value, param)
    extra = transcription.model_extra or {}
    languages = extra.get("languages")
    if transcription.language is None and isinstance(languages, list) and languages:
        transcription.language = str(languages[0])  # the newer list form; whisper takes one
    if transcription.language and language_code(transcription.language) is None:
        raise ClientEventError(
            f"Unsupported language: '{transcription.language}'.",
            code="invalid_language",
            param=param + ".language",
        )
    return transcription


def _turn_detection(value: object, param: str) -> TurnDetection | None:
    return None if value is None else _model(TurnDetection, value, param)


def apply_ga(
    config: SessionConfig, session: object, limits: ConfigLimits | None = None
) -> SessionConfig:
    """``config`` with a GA ``session.update``'s ``session`` applied."""
    if not isinstance(session, dict):
        raise ClientEventError("'session' must be an object.", param="session")
    update: dict[str, Any] = {}
    if "type" in session:
        if session["type"] not in ("transcription", "realtime"):
            raise ClientEventError(
                f"Unknown session type '{session['type']}'.", param="session.type"
            )
        update["type"] = session["type"]
    audio = session.get("audio") or {}
    source = (audio.get("input") or {}) if isinstance(audio, dict) else {}
    if not isinstance(source, dict):
        raise ClientEventError("'session.audio.input' must be an object.", param="session.audio")
    prefix = "session.audio.input"
    if "format" in source:
        update["format"] = ga_format(source["format"])
    if source.get("transcription") is not None:
        update["transcription"] = _transcription(source["transcription"], f"{prefix}.transcription")
    if "noise_reduction" in source:
        update["noise_reduction"] = source["noise_reduction"]
    if "turn_detection" in source:
        update["turn_detection"] = _turn_detection(
            source["turn_detection"], f"{prefix}.turn_detection"
        )
    if "include" in session:
        update["include"] = session["include"]
    update |= _conversation_fields(session, audio, limits or ConfigLimits())
    return config.model_copy(update=update)


def _modalities(value: object, param: str) -> list[Modality]:
    if isinstance(value, list) and value and set(value) <= {"text", "audio"}:
        # Audio output always carries its transcript: a list with audio means audio.
        return ["audio"] if "audio" in value else ["text"]
    raise ClientEventError(
        f'Invalid value for \'{param}\': use ["audio"] or ["text"].', param=param
    )


def _speed(value: object, param: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.25 <= value <= 1.5:
        return float(value)
    raise ClientEventError(f"Invalid value for '{param}': a number from 0.25 to 1.5.", param=param)


def read_instructions(value: object, param: str, limits: ConfigLimits) -> str:
    """An ``instructions`` string (null = none), within the cap."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ClientEventError(
            f"Invalid type for '{param}': expected a string.", code="invalid_type", param=param
        )
    if len(value) > limits.max_instructions_chars:
        raise ClientEventError(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{limits.max_instructions_chars}, but got a string with length {len(value)} "
            "instead.",
            code="string_above_max_length",
            param=param,
        )
    return value


def voice_name(value: object, param: str) -> str:
    """A voice given as a name or as ``{"id": name}``."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and value:
        return value
    raise ClientEventError(f"'{param}' must be a voice name.", param=param)


def _max_tokens(value: object, param: str) -> int | Literal["inf"]:
    if value == "inf" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value  # type: ignore[return-value]
    raise ClientEventError(f"'{param}' must be a positive integer or 'inf'.", param=param)


def _conversation_fields(
    session: dict[str, Any], audio: object, limits: ConfigLimits
) -> dict[str, Any]:
    """The fields only a conversation session acts on (accepted in any GA update)."""
    update: dict[str, Any] = {}
    if session.get("model") is not None:
        if not isinstance(session["model"], str):
            raise ClientEventError("'session.model' must be a string.", param="session.model")
        update["model"] = session["model"]
    if "instructions" in session:
        update["instructions"] = read_instructions(
            session["instructions"], "session.instructions", limits
        )
    if session.get("tools") is not None:
        update["tools"] = read_tools(
            session["tools"], "session.tools", limits.max_tools, limits.max_tools_bytes
        )
    if session.get("tool_choice") is not None:
        update["tool_choice"] = read_tool_choice(session["tool_choice"], "session.tool_choice")
    if session.get("output_modalities") is not None:
        update["output_modalities"] = _modalities(
            session["output_modalities"], "session.output_modalities"
        )
    if session.get("max_output_tokens") is not None:
        update["max_output_tokens"] = _max_tokens(
            session["max_output_tokens"], "session.max_output_tokens"
        )
    output = (audio.get("output") or {}) if isinstance(audio, dict) else {}
    if not isinstance(output, dict):
        raise ClientEventError("'session.audio.output' must be an object.", param="session.audio")
    if output.get("format") is not None:
        update["output_format"] = ga_format(output["format"], "session.audio.output.format")
    if output.get("voice") is not None:
        update["voice"] = voice_name(output["voice"], "session.audio.output.voice")
    if output.get("speed") is not None:
        update["speed"] = _speed(output["speed"], "session.audio.output.speed")
    return update


def apply_beta(config: SessionConfig, session: object) -> SessionConfig:
    """``config`` with a legacy ``transcription_session.update``'s ``session`` applied."""
    if not isinstance(session, dict):
        raise ClientEventError("'session' must be an object.", param="session")
    update: dict[str, Any] = {"type": "transcription"}
    if "input_audio_format" in session:
        update["format"] = _beta_format(session["input_audio_format"])
    if session.get("input_audio_transcription") is not None:
        update["transcription"] = _transcription(
            session["input_audio_transcription"], "session.input_audio_transcription"
        )
    if "input_audio_noise_reduction" in session:
        update["noise_reduction"] = session["input_audio_noise_reduction"]
    if "turn_detection" in session:
        update["turn_detection"] = _turn_detection(
            session["turn_detection"], "session.turn_detection"
        )
    if "include" in session:
        update["include"] = session["include"]
    return config.model_copy(update=update)
