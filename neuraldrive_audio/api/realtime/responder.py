"""Responses of a conversation session: the reply pipeline's events as Realtime events.

One response at a time. It is two tasks: a *producer* that runs the reply pipeline
(``speak_reply``: LLM tokens -> clauses -> speech jobs; or the LLM's text alone) and
queues its events, and the *response* task that turns them into ``response.*`` events in
order. Cancelling (barge-in, ``response.cancel``) cancels the producer, which closes the
LLM stream and aborts the speech jobs, and ends the response at once with the text the
listener heard; the response task is never cancelled in the middle of a send.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.realtime.conversation import Conversation, ConversationItem
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.output_audio import OutputEncoder
from neuraldrive_audio.api.realtime.protocol import ClientEventError, new_item_id
from neuraldrive_audio.api.realtime.session_config import AudioFormat, Modality, render_format
from neuraldrive_audio.api.realtime.spoken import SpokenReply
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.service.errors import ErrorKind, ServiceError
from neuraldrive_audio.service.llm import LLMUsage
from neuraldrive_audio.service.reply import (
    AudioDelta,
    ReplyDone,
    ReplyEvent,
    ReplyTimings,
    ReplyVoice,
    TextDelta,
)
from neuraldrive_audio.service.usage import audio_tokens

log = logging.getLogger(__name__)

SpeakFn = Callable[
    [str, list[dict[str, Any]], ReplyVoice, dict[str, Any]], AsyncIterator[ReplyEvent]
]
"""(LLM model, messages, voice, LLM options) -> the spoken reply's events."""

WriteFn = Callable[[str, list[dict[str, Any]], dict[str, Any]], AsyncIterator[str | LLMUsage]]
"""(LLM model, messages, LLM options) -> the LLM's text deltas, then its usage."""


@dataclass(frozen=True)
class ReplyBackend:
    """Where replies come from: the reply pipeline and the LLM alone (for text)."""

    speak: SpeakFn
    write: WriteFn


@dataclass(frozen=True)
class ResponseSettings:
    """What one response is asked for: the session's configuration, overridden by the
    ``response`` object of ``response.create``."""

    model: str
    """The LLM model."""
    instructions: str
    modality: Modality
    output_format: AudioFormat
    voice: ReplyVoice
    client_voice: str
    options: dict[str, Any] = field(default_factory=dict)
    max_output_tokens: int | str = "inf"
    metadata: dict[str, Any] | None = None
    in_conversation: bool = True
    """False for ``conversation: "none"``: the reply is not added to the conversation."""


_END = object()


@dataclass
class _Response:
    settings: ResponseSettings
    id: str = field(default_factory=lambda: "resp_" + secrets.token_hex(12))
    item: ConversationItem | None = None
    previous_item_id: str | None = None
    text: list[str] = field(default_factory=list)
    spoken: SpokenReply = field(default_factory=lambda: SpokenReply(OUTPUT_SAMPLE_RATE))
    usage: LLMUsage = field(default_factory=LLMUsage)
    timings: ReplyTimings | None = None
    completed: bool = False
    cancel_reason: str | None = None
    error: dict[str, Any] | None = None
    encoder: OutputEncoder | None = None
    events: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    producer: asyncio.Task[None] | None = None
    task: asyncio.Task[None] | None = None

    @property
    def audio(self) -> bool:
        return self.settings.modality == "audio"

    def ids(self) -> dict[str, Any]:
        assert self.item is not None
        return {
            "response_id": self.id,
            "item_id": self.item.id,
            "output_index": 0,
            "content_index": 0,
        }


def realtime_error(exc: ServiceError) -> dict[str, Any]:
    """The body of a realtime ``error`` (or a failure's ``error`` object) for a service
    error: OpenAI's error type from its kind, its code, message and param."""
    server_side = exc.kind.retryable or exc.kind is ErrorKind.INTERNAL
    return {
        "type": "server_error" if server_side else "invalid_request_error",
        "code": exc.code,
        "message": exc.message,
        "param": exc.param,
    }


def response_error(exc: Exception) -> dict[str, Any]:
    """The ``status_details.error`` (and ``error`` event body) for a failed reply."""
    if isinstance(exc, ServiceError):
        error = realtime_error(exc)
        return {"type": error["type"], "code": error["code"], "message": error["message"]}
    if isinstance(exc, APIError):
        return {"type": exc.type, "code": exc.code, "message": exc.message}
    return {"type": "server_error", "code": None, "message": "The server failed the response."}


def _usage(usage: LLMUsage, audio_samples: int) -> dict[str, Any]:
    spoken = audio_tokens(audio_samples / OUTPUT_SAMPLE_RATE)
    output = usage.completion_tokens + spoken
    return {
        "total_tokens": usage.prompt_tokens + output,
        "input_tokens": usage.prompt_tokens,
        "output_tokens": output,
        "input_token_details": {
            "text_tokens": usage.prompt_tokens,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {
            "text_tokens": usage.completion_tokens,
            "audio_tokens": spoken,
        },
    }


class Responder:
    """Runs a session's responses, one at a time."""

    def __init__(
        self,
        emitter: EventEmitter,
        conversation: Conversation,
        backend: ReplyBackend,
        input_settled: Callable[[], Awaitable[None]],
    ) -> None:
        self._emitter = emitter
        self._conversation = conversation
        self._backend = backend
        self._input_settled = input_settled
        self._active: _Response | None = None
        self._cleanups: set[asyncio.Task[None]] = set()
        self.last_timings: ReplyTimings | None = None
        """The last finished reply's timings (for logs and tests)."""

    @property
    def active_id(self) -> str | None:
        """The id of the response in progress."""
        return self._active.id if self._active is not None else None

    @property
    def active_item_id(self) -> str | None:
        """The assistant item of the response in progress (None before its first event)."""
        item = self._active.item if self._active is not None else None
        return item.id if item is not None else None

    def start(self, settings: ResponseSettings) -> str:
        """Start a response; ClientEventError while another one is in progress."""
        if self._active is not None:
            raise ClientEventError(
                "Conversation already has an active response in progress: "
                f"{self._active.id}. Wait until the response is finished before creating a "
                "new one.",
                code="conversation_already_has_active_response",
            )
        response = _Response(settings)
        self._active = response
        response.task = asyncio.create_task(self._run(response))
        return response.id

    async def wait(self) -> None:
        """Until the response in progress (if any) has ended."""
        while self._active is not None and self._active.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._active.task)

    async def cancel(self, reason: str) -> bool:
        """End the response in progress as ``cancelled`` (``turn_detected`` or
        ``client_cancelled``); False when there is none. Returns after ``response.done``."""
        response = self._active
        if response is None or response.cancel_reason is not None or response.completed:
            return False
        response.cancel_reason = reason
        if response.producer is not None:
            response.producer.cancel()  # closes the LLM stream, aborts the speech jobs
        response.events.put_nowait(_END)  # don't wait for that cleanup to answer
        if response.task is not None:
            await asyncio.shield(response.task)
        return True

    async def close(self) -> None:
        """The session ends: stop everything, send nothing more."""
        response = self._active
        tasks = [t for t in (response.producer, response.task) if t] if response else []
        for task in [*tasks, *self._cleanups]:
            task.cancel()
        await asyncio.gather(*tasks, *self._cleanups, return_exceptions=True)

    # -- the producer ------------------------------------------------------------------

    async def _produce(self, response: _Response) -> None:
        settings = response.settings
        try:
            await self._input_settled()
            messages = self._conversation.llm_messages(settings.instructions)
            if response.audio:
                source = self._backend.speak(
                    settings.model, messages, settings.voice, settings.options
                )
                async with contextlib.aclosing(source):  # type: ignore[type-var]
                    async for event in source:
                        response.events.put_nowait(event)
            else:
                await self._produce_text(response, messages)
        except Exception as exc:
            response.events.put_nowait(exc)
        finally:
            response.events.put_nowait(_END)

    async def _produce_text(self, response: _Response, messages: list[dict[str, Any]]) -> None:
        settings = response.settings
        usage = LLMUsage()
        pieces: list[str] = []
        source = self._backend.write(settings.model, messages, settings.options)
        async with contextlib.aclosing(source):  # type: ignore[type-var]
            async for item in source:
                if isinstance(item, LLMUsage):
                    usage = item
                else:
                    pieces.append(item)
                    response.events.put_nowait(TextDelta(item))
        response.events.put_nowait(ReplyDone("".join(pieces), [], usage, 0, ReplyTimings()))

    # -- the response ------------------------------------------------------------------

    async def _run(self, response: _Response) -> None:
        try:
            await self._emitter.emit("response.created", response=self._render(response))
            response.producer = asyncio.create_task(self._produce(response))
            while response.cancel_reason is None:
                event = await response.events.get()
                if event is _END or response.cancel_reason is not None:
                    break
                if isinstance(event, Exception):
                    await self._failed(response, event)
                    break
                await self._on_event(response, event)  # type: ignore[arg-type]
            await self._finish(response)
        except Exception:
            log.exception("realtime response failed", extra={"response_id": response.id})
        finally:
            self._active = None
            if response.producer is not None and not response.producer.done():
                self._cleanups.add(response.producer)
                response.producer.add_done_callback(self._cleanups.discard)

    async def _failed(self, response: _Response, exc: Exception) -> None:
        response.error = response_error(exc)
        log.info("realtime response failed: %s", exc, extra={"response_id": response.id})
        await self._emitter.error(
            response.error["message"], type=response.error["type"], code=response.error["code"]
        )

    async def _open_item(self, response: _Response) -> None:
        """The assistant item, announced when the reply's first event arrives."""
        item = ConversationItem(new_item_id(), "assistant", [], status="in_progress")
        item.spoken = response.spoken
        response.item = item
        if response.settings.in_conversation:
            response.previous_item_id = self._conversation.add(item)
        await self._emitter.emit(
            "response.output_item.added", response_id=response.id, output_index=0,
            item=item.render(),
        )  # fmt: skip
        if response.settings.in_conversation:
            await self._emitter.emit(
                "conversation.item.added",
                previous_item_id=response.previous_item_id,
                item=item.render(),
            )
        item.content = [self._content(response, "")]
        part = (
            {"type": "audio", "transcript": ""} if response.audio else {"type": "text", "text": ""}
        )
        ids = response.ids()
        ids.pop("output_index")
        await self._emitter.emit("response.content_part.added", output_index=0, part=part, **ids)

    @staticmethod
    def _content(response: _Response, text: str) -> dict[str, Any]:
        if response.audio:
            return {"type": "output_audio", "transcript": text}
        return {"type": "output_text", "text": text}

    async def _on_event(self, response: _Response, event: ReplyEvent) -> None:
        if response.item is None:
            await self._open_item(response)
        if isinstance(event, TextDelta):
            response.text.append(event.text)
            kind = (
                "response.output_audio_transcript.delta"
                if response.audio
                else "response.output_text.delta"
            )
            await self._emitter.emit(kind, delta=event.text, **response.ids())
        elif isinstance(event, AudioDelta):
            if response.encoder is None:
                response.encoder = OutputEncoder(response.settings.output_format)
            data = base64.b64encode(response.encoder.encode(event.pcm)).decode()
            await self._emitter.emit("response.output_audio.delta", delta=data, **response.ids())
            response.spoken.sent(event.clause_index, event.clause, len(event.pcm) // 2)
        elif isinstance(event, ReplyDone):
            response.spoken.finish()
            response.usage = event.usage
            response.timings = event.timings
            self.last_timings = event.timings
            response.completed = True

    def _final_text(self, response: _Response) -> str:
        whole = "".join(response.text)
        if response.completed or not response.audio:
            return whole.strip()
        return response.spoken.heard_text()  # cut short: only what was sent was heard

    async def _finish(self, response: _Response) -> None:
        status = "completed" if response.completed else "failed" if response.error else "cancelled"
        item = response.item
        if item is not None:
            text = self._final_text(response)
            ids = response.ids()
            if response.audio:
                await self._emitter.emit("response.output_audio.done", **ids)
                await self._emitter.emit(
                    "response.output_audio_transcript.done", transcript=text, **ids
                )
                part = {"type": "audio", "transcript": text}
            else:
                await self._emitter.emit("response.output_text.done", text=text, **ids)
                part = {"type": "text", "text": text}
            await self._emitter.emit("response.content_part.done", part=part, **ids)
            item.content = [self._content(response, text)]
            item.status = "completed" if status == "completed" else "incomplete"
            await self._emitter.emit(
                "response.output_item.done", response_id=response.id, output_index=0,
                item=item.render(),
            )  # fmt: skip
            if response.settings.in_conversation:
                await self._emitter.emit(
                    "conversation.item.done",
                    previous_item_id=response.previous_item_id,
                    item=item.render(),
                )
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": response.cancel_reason}
        elif status == "failed":
            details = {"type": "failed", "error": response.error}
        log.info(
            "realtime response %s", status,
            extra={"response_id": response.id, "timings": response.timings},
        )  # fmt: skip
        await self._emitter.emit("response.done", response=self._render(response, status, details))

    def _render(
        self,
        response: _Response,
        status: str = "in_progress",
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        settings = response.settings
        done = status != "in_progress"
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": [response.item.render()] if done and response.item else [],
            "conversation_id": "conv_default" if settings.in_conversation else None,
            "output_modalities": [settings.modality],
            "max_output_tokens": settings.max_output_tokens,
            "audio": {
                "output": {
                    "format": render_format(settings.output_format),
                    "voice": settings.client_voice,
                }
            },
            "metadata": settings.metadata,
            "usage": _usage(response.usage, response.spoken.samples) if done else None,
        }
