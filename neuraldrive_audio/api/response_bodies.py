"""What each route answers, as models for /openapi.json (and for FastAPI's response checks).

The OpenAI routes reuse the `openai` SDK's own types, so the schema says exactly what the SDK
parses. Our own routes get models here. They allow extra fields: a model documents the
fields a client can rely on, and a field added later is not silently dropped from answers.
Routes that answer several media types (text formats, audio, server-sent events) describe
each with :func:`media`.
"""

from __future__ import annotations

from typing import Any, Literal

from openai.types import Model
from openai.types.audio import (
    Transcription,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
)
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict

from neuraldrive_audio.queue.job_records import JobRecord
from neuraldrive_audio.storage.manifest import ModelManifest

__all__ = [
    "TRANSCRIPT_TEXT_TYPES",
    "AudioModelList",
    "ChatCompletion",
    "Health",
    "Job",
    "JobDeleted",
    "JobList",
    "Model",
    "ModelList",
    "ModelLoaded",
    "ModelUnloaded",
    "ServiceStatus",
    "Transcription",
    "TranscriptionVerbose",
    "Translation",
    "TranslationVerbose",
    "VoiceList",
    "media",
]


class Body(BaseModel):
    """A JSON answer: the documented fields, and whatever else the route adds."""

    model_config = ConfigDict(extra="allow")


class ModelList(Body):
    """``GET /v1/models``: OpenAI's model list."""

    object: Literal["list"] = "list"
    data: list[Model]


class JobLinks(Body):
    """Where to follow a job."""

    self: str
    result: str
    cancel: str


class Job(JobRecord):
    """An asynchronous job, with links to its status, result and cancel routes."""

    model_config = ConfigDict(extra="allow")

    links: JobLinks


class JobList(Body):
    """``GET /v1/audio/jobs``: newest first; ``has_more`` when another page follows."""

    object: Literal["list"] = "list"
    data: list[Job]
    has_more: bool


class JobDeleted(Body):
    """``DELETE /v1/audio/jobs/{id}``."""

    id: str
    object: Literal["audio.job.deleted"] = "audio.job.deleted"
    deleted: bool


class ModelPlacement(Body):
    """One worker holding a model."""

    worker_id: str
    device: str
    pinned: bool
    bytes: int


class AudioModel(ModelManifest):
    """An installed model: its manifest, and the workers that hold it now."""

    model_config = ConfigDict(extra="allow")

    object: Literal["model"] = "model"
    loaded_on: list[ModelPlacement]


class AudioModelList(Body):
    """``GET /v1/audio/models``; ``models`` is the list Open WebUI's model dropdown reads."""

    object: Literal["list"] = "list"
    data: list[AudioModel]
    models: list[dict[str, str]]


class ModelLoaded(Body):
    """A load (or pin) done on one worker."""

    model: str
    worker_id: str
    loaded: bool
    pinned: bool
    bytes: int


class ModelUnloaded(Body):
    """An unload done on every worker that held the model."""

    model: str
    unloaded_from: list[str]


class Voice(Body):
    """A voice of one text-to-speech model."""

    id: str
    object: Literal["voice"] = "voice"
    model: str
    languages: list[str]


class VoiceList(Body):
    """``GET /v1/audio/voices``: the voices, the name mapping per model, Open WebUI's list."""

    object: Literal["list"] = "list"
    data: list[Voice]
    aliases: dict[str, dict[str, str]]
    voices: list[dict[str, str]]


class ServiceStatus(Body):
    """``GET /system/audio/status``: workers, queues, jobs, latency, engines, live sessions."""

    time: float
    uptime_s: float
    queue: dict[str, int]
    workers: list[dict[str, Any]]
    jobs: dict[str, Any]
    engines: dict[str, dict[str, float]]
    models: dict[str, int]
    recent_errors: list[dict[str, Any]]
    realtime: dict[str, Any] | None = None


class Health(Body):
    """``GET /health``: ``ok`` with the live workers, or ``unavailable`` with the reason."""

    status: Literal["ok", "unavailable"]
    workers: int | None = None
    reason: str | None = None


TRANSCRIPT_TEXT_TYPES = ("text/plain", "text/vtt")
"""What ``text``/``srt`` (text/plain) and ``vtt`` answer."""

_TEXT = {"schema": {"type": "string"}}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SERVER_SENT_EVENT = {
    "schema": {
        "type": "object",
        "description": "One server-sent event; `data` is a JSON event of the route's stream.",
        "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
        "required": ["data"],
    }
}
_MEDIA_TYPES = {
    "text/plain": _TEXT,
    "text/event-stream": _SERVER_SENT_EVENT,
    "text/vtt": _TEXT,
}


def media(*media_types: str, json: Any = None, description: str = "") -> dict[int | str, Any]:
    """A ``responses=`` entry for a 200 that answers ``media_types`` (text as a string,
    server-sent events one event at a time, anything else as binary) and, with ``json``,
    that model as JSON."""
    content = {t: _MEDIA_TYPES.get(t, _BINARY) for t in media_types}
    answer: dict[str, Any] = {"description": description or "Successful Response"}
    answer["content"] = content
    if json is not None:
        answer["model"] = json
    return {200: answer}
