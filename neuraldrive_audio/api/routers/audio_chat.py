"""POST /v1/audio/chat/completions: OpenAI's Chat Completions with audio, on the local LLM.

Clients point ``OpenAI(base_url=".../v1/audio")`` here, so ``/v1/chat/completions`` stays
Ollama's. ``input_audio`` message parts are transcribed on the workers and sent to the
LLM as text; with ``modalities: ["text", "audio"]`` the reply is spoken by a TTS model
(``choices[0].message.audio``, or ``delta.audio`` pieces when streamed, pcm16 only, as
OpenAI); without, the LLM's answer is passed back unchanged.

``tools``/``tool_choice`` go to the LLM as they came. A spoken reply's tool calls come back
as OpenAI's do: ``message.tool_calls`` (or a ``delta.tool_calls`` chunk after the reply's
audio) with ``finish_reason: "tool_calls"``, and no ``audio`` when nothing was said.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from neuraldrive_audio.api.contract.response_bodies import ChatCompletion, media
from neuraldrive_audio.api.contract.speech_request import VoiceRef
from neuraldrive_audio.api.http.auth import ApiKeyRequired
from neuraldrive_audio.api.http.dependencies import ServiceDep
from neuraldrive_audio.api.http.errors import APIError, http_error
from neuraldrive_audio.api.http.sse import DONE, sse, sse_response
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.llm import (
    LLMFinish,
    LLMText,
    LLMToolCall,
    LLMUsage,
    ToolCall,
    whole_tool_calls,
)
from neuraldrive_audio.service.names import ResolvedVoice
from neuraldrive_audio.service.reply import (
    AudioDelta,
    ReplyDone,
    ReplyEvent,
    ReplyVoice,
    TextDelta,
)
from neuraldrive_audio.service.speech_service import SpeechService
from neuraldrive_audio.service.transcription import TranscriptionOptions
from neuraldrive_audio.service.usage import audio_tokens

router = APIRouter(prefix="/v1/audio", tags=["voice-agent"], dependencies=[ApiKeyRequired])

AudioFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]
AUDIO_EXPIRY_S = 3600
# Request fields that are ours to act on; every other one goes to the LLM as it came.
_OUR_FIELDS = ("model", "messages", "stream", "stream_options", "modalities", "audio")


class AudioOutput(BaseModel):
    """The ``audio`` parameter: how the reply is spoken."""

    voice: str | VoiceRef
    format: AudioFormat

    @property
    def voice_name(self) -> str:
        """The voice as a string, whichever form it came in."""
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice

    @property
    def speech_format(self) -> SpeechFormat:
        """The speech job's name for the format (OpenAI says pcm16 here, pcm there)."""
        return SpeechFormat.PCM if self.format == "pcm16" else SpeechFormat(self.format)


class ChatAudioRequest(BaseModel):
    """Body of POST /v1/audio/chat/completions; unknown fields are kept for the LLM."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    modalities: list[Literal["text", "audio"]] | None = None
    audio: AudioOutput | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    @property
    def wants_audio(self) -> bool:
        """Whether the reply is to be spoken."""
        return "audio" in (self.modalities or [])

    @property
    def include_usage(self) -> bool:
        """Whether a streamed reply ends with a usage chunk."""
        return bool((self.stream_options or {}).get("include_usage"))

    def llm_options(self) -> dict[str, Any]:
        """The request's other fields (temperature, max_tokens, ...), for the LLM."""
        return {k: v for k, v in (self.model_extra or {}).items() if k not in _OUR_FIELDS}


# --- input: audio parts become text ----------------------------------------------------


def decode_audio(data: str, param: str) -> bytes:
    """The bytes of base64 audio from a request; 400 naming ``param`` when it is not."""
    try:
        audio = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIError(
            400, "The audio data is not valid base64.", code="invalid_value", param=param
        ) from exc
    if not audio:
        raise APIError(400, "The audio data is empty.", code="invalid_value", param=param)
    return audio


async def _text_messages(
    messages: list[dict[str, Any]], service: SpeechService
) -> list[dict[str, Any]]:
    """``messages`` with every ``input_audio`` part replaced by its transcript (all
    transcribed at once), and our own ``audio`` references dropped: the LLM reads text."""
    audio_parts: list[tuple[int, int, bytes]] = []
    for m_index, message in enumerate(messages):
        content = message.get("content")
        for p_index, part in enumerate(content if isinstance(content, list) else []):
            if isinstance(part, dict) and part.get("type") == "input_audio":
                param = f"messages[{m_index}].content[{p_index}].input_audio.data"
                data = (part.get("input_audio") or {}).get("data")
                if not isinstance(data, str):
                    raise APIError(400, "input_audio needs base64 data.", param=param)
                audio_parts.append((m_index, p_index, decode_audio(data, param)))
    if audio_parts:
        options = TranscriptionOptions(model=service.settings.default_asr_model)
        jobs = [
            asyncio.create_task(service.transcribe(audio, options)) for _, _, audio in audio_parts
        ]
        try:
            transcripts = await asyncio.gather(*jobs)
        finally:
            for job in jobs:  # one failed (or the client left): abort the others' jobs
                job.cancel()
        heard = {
            (m, p): t.text.strip() for (m, p, _), t in zip(audio_parts, transcripts, strict=True)
        }
    else:
        heard = {}
    return [_as_text(m_index, message, heard) for m_index, message in enumerate(messages)]


def _as_text(
    m_index: int, message: dict[str, Any], heard: dict[tuple[int, int], str]
) -> dict[str, Any]:
    message = {k: v for k, v in message.items() if k != "audio"}
    content = message.get("content")
    if isinstance(content, list):
        parts = [
            {"type": "text", "text": heard[(m_index, p)]} if (m_index, p) in heard else part
            for p, part in enumerate(content)
        ]
        if all(isinstance(p, dict) and p.get("type") == "text" for p in parts):
            # Plain text content is what every OpenAI-compatible server understands.
            message["content"] = "\n".join(str(p.get("text", "")) for p in parts)
        else:
            message["content"] = parts
    elif content is None:
        message["content"] = ""
    return message


# --- output ------------------------------------------------------------------------------


def _usage(llm: LLMUsage, audio_seconds: float) -> dict[str, Any]:
    spoken = audio_tokens(audio_seconds)
    text_tokens = llm.completion_tokens
    completion = text_tokens + spoken
    return {
        "prompt_tokens": llm.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": llm.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": spoken,
            "text_tokens": text_tokens,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class _Completion:
    """Ids and the envelope shared by a reply's response or chunks."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.audio_id = "audio_" + secrets.token_hex(12)
        self.created = int(time.time())
        self.model = model

    def envelope(self, obj: str, **fields: Any) -> dict[str, Any]:
        """A completion object of type ``obj`` with these ids, and ``fields``."""
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            **fields,
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        """One SSE frame of the streamed completion, with ``delta`` as its only choice."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse(self.envelope("chat.completion.chunk", choices=[choice]))


class _WholeReply:
    """The LLM's whole reply: text, tool calls, why it stopped, usage."""

    def __init__(self) -> None:
        self.text = ""
        self.call_pieces: list[LLMToolCall] = []
        self.finish_reason = "stop"
        self.usage = LLMUsage()

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls, each put together from its streamed pieces."""
        return whole_tool_calls(self.call_pieces)


async def _collect_reply(
    service: SpeechService, model: str, messages: list[dict[str, Any]], options: dict[str, Any]
) -> _WholeReply:
    """The whole reply (streamed from the LLM, kept only because this response needs it)."""
    reply = _WholeReply()
    async for item in service.llm.stream(model, messages, options):
        if isinstance(item, LLMText):
            reply.text += item.text
        elif isinstance(item, LLMToolCall):
            reply.call_pieces.append(item)
        elif isinstance(item, LLMFinish):
            reply.finish_reason = item.reason
        else:
            reply.usage = item
    return reply


def _tool_calls_out(calls: list[ToolCall] | tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    """Tool calls as OpenAI's ``message.tool_calls``."""
    return [
        {"id": c.call_id, "type": "function",
         "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]  # fmt: skip


async def _speak_whole(
    service: SpeechService, text: str, voice: ReplyVoice, fmt: SpeechFormat
) -> bytes:
    """``text`` spoken in ``fmt`` by one speech job (the worker encodes the format)."""
    if not text.strip():
        return b""
    resolved = ResolvedVoice(voice.model_id, voice.voice)
    pieces = service.speak(text, resolved, fmt, voice.speed)
    return b"".join([piece async for piece in pieces if isinstance(piece, bytes)])


async def _spoken_reply(
    body: ChatAudioRequest,
    messages: list[dict[str, Any]],
    voice: ReplyVoice,
    output: AudioOutput,
    service: SpeechService,
) -> JSONResponse:
    """Non-streamed: the whole reply, then its audio, in ``choices[0].message.audio``."""
    model = service.llm_model(body.model)
    whole = await _collect_reply(service, model, messages, body.llm_options())
    text, calls = whole.text, whole.tool_calls
    audio = await _speak_whole(service, text, voice, output.speech_format)
    reply = _Completion(body.model)
    # pcm is 2 bytes a sample; for encoded formats estimate from the text (~15 chars/s).
    seconds = len(audio) / 2 / OUTPUT_SAMPLE_RATE if output.format == "pcm16" else len(text) / 15
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "audio": {
            "id": reply.audio_id,
            "data": base64.b64encode(audio).decode(),
            "expires_at": reply.created + AUDIO_EXPIRY_S,
            "transcript": text,
        },
    }
    if calls:
        message["tool_calls"] = _tool_calls_out(calls)
        if not text.strip():
            message["audio"] = None  # a bare call: nothing was said
    finish = "tool_calls" if calls else whole.finish_reason
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return JSONResponse(
        reply.envelope("chat.completion", choices=[choice], usage=_usage(whole.usage, seconds))
    )


def _error_frame(exc: ServiceError) -> str:
    """An error once the headers are gone; the SDK raises on a data frame carrying it."""
    error = http_error(exc)
    body = {"message": error.message, "type": error.type, "param": None, "code": error.code}
    return sse({"error": body})


async def _reply_chunks(
    body: ChatAudioRequest, first: ReplyEvent, events: AsyncGenerator[ReplyEvent, None]
) -> AsyncIterator[str]:
    """The streamed reply: transcript and pcm16 pieces in ``delta.audio``, then the tool
    calls (each whole, in one chunk, as Ollama sends them), then the end."""
    reply = _Completion(body.model)
    yield reply.chunk({"role": "assistant", "content": None, "refusal": None})
    event: ReplyEvent | None = first
    calls = 0
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                yield reply.chunk({"audio": {"id": reply.audio_id, "transcript": event.text}})
            elif isinstance(event, AudioDelta):
                data = base64.b64encode(event.pcm).decode()
                yield reply.chunk({"audio": {"id": reply.audio_id, "data": data}})
            elif isinstance(event, ToolCall):
                (call,) = _tool_calls_out([event])
                yield reply.chunk({"tool_calls": [{"index": calls, **call}]})
                calls += 1
            elif isinstance(event, ReplyDone):
                if event.text.strip() or not calls:  # a bare call has no audio
                    expires = reply.created + AUDIO_EXPIRY_S
                    yield reply.chunk({"audio": {"id": reply.audio_id, "expires_at": expires}})
                finish = "tool_calls" if calls else event.finish_reason
                yield reply.chunk({}, finish=finish)
                if body.include_usage:
                    seconds = event.audio_samples / OUTPUT_SAMPLE_RATE
                    usage = _usage(event.usage, seconds)
                    yield sse(reply.envelope("chat.completion.chunk", choices=[], usage=usage))
            event = await anext(events, None)
    except ServiceError as exc:
        yield _error_frame(exc)
        return
    finally:
        await events.aclose()
    yield DONE


# --- text out: the LLM's answer as it is ------------------------------------------------


async def _proxied(service: SpeechService, request: dict[str, Any]) -> Response:
    """The LLM's own response to ``request`` (streamed as its chunks, or its JSON)."""
    if not request.get("stream"):
        return JSONResponse(await service.llm.complete(request))
    chunks = service.llm.stream_chunks(request)
    first = await anext(chunks)

    async def frames() -> AsyncIterator[str]:
        # Closed explicitly: a client that leaves stops the LLM's stream at once, not at GC.
        async with contextlib.aclosing(chunks):
            yield sse(first)
            try:
                async for chunk in chunks:
                    yield sse(chunk)
            except ServiceError as exc:
                yield _error_frame(exc)
                return
        yield DONE

    return sse_response(frames())


# --- the endpoint ------------------------------------------------------------------------


@router.post(
    "/chat/completions",
    response_model=None,
    responses=media(
        "text/event-stream",
        json=ChatCompletion,
        description="The completion (with `message.audio` when audio was asked), or with "
        "`stream=true` its `chat.completion.chunk` events.",
    ),
)
async def create_chat_completion(body: ChatAudioRequest, service: ServiceDep) -> Response:
    """Chat with the local LLM, with spoken questions and/or spoken answers."""
    output = body.audio
    if body.wants_audio:
        if output is None:
            raise APIError(
                400,
                "The 'audio' parameter is required when modalities includes 'audio'.",
                code="missing_required_parameter",
                param="audio",
            )
        if body.stream and output.format != "pcm16":
            raise APIError(
                400,
                f"Streamed audio output supports only the pcm16 format, not '{output.format}'.",
                code="unsupported_value",
                param="audio.format",
            )
    voice = service.reply_voice(output.voice_name) if body.wants_audio and output else None
    messages = await _text_messages(body.messages, service)
    if voice is None or output is None:
        request = {**body.model_dump(exclude_unset=True), "messages": messages}
        request["model"] = service.llm_model(body.model)
        return await _proxied(service, request)
    if not body.stream:
        return await _spoken_reply(body, messages, voice, output, service)
    events = service.reply(service.llm_model(body.model), messages, voice, body.llm_options())
    # The first event before the headers, so a dead LLM is still a 503 status.
    first = await anext(events)
    return sse_response(_reply_chunks(body, first, events))
