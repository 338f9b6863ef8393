"""A session's configuration, read from GA ``session.update`` or legacy beta
``transcription_session.update`` events, and rendered back in the shape it came in.

Updates are partial: a field the client leaves out keeps its value; an explicit
``"turn_detection": null`` switches to manual commits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neuraldrive_audio.api.realtime.protocol import ClientEventError
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

    def vad_settings(self) -> TurnSettings:
        """The detector parameters this stands for."""
        silence = self.silence_duration_ms
        if self.type == "semantic_vad":
            silence = _EAGERNESS_SILENCE_MS[self.eagerness or "auto"]
        return TurnSettings(self.threshold, self.prefix_padding_ms, silence)

    def render(self) -> dict[str, Any]:
        """As the client would send it."""
        return self.model_dump(exclude_none=True)


SessionType = Literal["transcription", "realtime"]


class SessionConfig(BaseModel):
    """Everything a session's behaviour depends on."""

    type: SessionType = "transcription"
    format: AudioFormat = AudioFormat.PCM
    transcription: Transcription = Field(default_factory=Transcription)
    noise_reduction: dict[str, Any] | None = None
    turn_detection: TurnDetection | None = Field(default_factory=lambda: TurnDetection())
    include: list[str] | None = None


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


def _ga_format(value: object) -> AudioFormat:
    param = "session.audio.input.format"
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


def apply_ga(config: SessionConfig, session: object) -> SessionConfig:
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
        update["format"] = _ga_format(source["format"])
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
    return config.model_copy(update=update)


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


def _transcription_out(config: SessionConfig, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "language": config.transcription.language,
        "prompt": config.transcription.prompt or "",
    }


def render_ga(config: SessionConfig, session_id: str, model: str) -> dict[str, Any]:
    """The session object of ``session.created`` / ``session.updated``."""
    fmt: dict[str, Any] = {"type": config.format.value}
    if config.format is AudioFormat.PCM:
        fmt["rate"] = PCM_RATE
    return {
        "type": config.type,
        "object": "realtime.transcription_session",
        "id": session_id,
        "expires_at": 0,
        "audio": {
            "input": {
                "format": fmt,
                "transcription": _transcription_out(config, model),
                "noise_reduction": config.noise_reduction,
                "turn_detection": config.turn_detection and config.turn_detection.render(),
            }
        },
        "include": config.include,
    }


def render_beta(config: SessionConfig, session_id: str, model: str) -> dict[str, Any]:
    """The session object of the legacy ``transcription_session.updated``."""
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "modalities": ["text"],
        "input_audio_format": config.format.beta_name,
        "input_audio_transcription": _transcription_out(config, model),
        "input_audio_noise_reduction": config.noise_reduction,
        "turn_detection": config.turn_detection and config.turn_detection.render(),
        "include": config.include,
    }
