"""Responses of a conversation session: the reply pipeline's events as Realtime events.

One response at a time. It is two tasks: a *producer* that runs the reply pipeline
(``speak_reply``: LLM tokens -> clauses -> speech jobs; or the LLM's text alone) and
queues its events, and the *response* task that turns them into ``response.*`` events in
order. Cancelling (barge-in, ``response.cancel``) cancels the producer, which closes the
LLM stream and aborts the speech jobs, and ends the response at once with the text the
listener heard; the response task is never cancelled in the middle of a send.

A response's output items are, in order: the assistant message (when the LLM said
anything), then one ``function_call`` item per tool call. Calls are announced after the
message is complete (its audio included), as OpenAI orders output items; Ollama sends a
call whole, so its arguments go out as one ``.delta`` and the ``.done``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.realtime import (
    RealtimeResponse,
    RealtimeResponseStatus,
    RealtimeResponseUsage,
    RealtimeResponseUsageInputTokenDetails,
    RealtimeResponseUsageOutputTokenDetails,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.realtime import response_content_part_added_event as part_added
from openai.types.realtime import response_content_part_done_event as part_done
from openai.types.realtime.realtime_response import Audio, AudioOutput
from openai.types.realtime.realtime_response_status import Error as StatusError

from neuraldrive_audio.api.realtime.conversation import Conversation
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.items import (
    ContentPart,
    ConversationItem,
    FunctionCallItem,
    MessageItem,
    added_event,
    done_event,
    render,
)
from neuraldrive_audio.api.realtime.output_audio import OutputEncoder
from neuraldrive_audio.api.realtime.protocol import (
    ClientEventError,
    new_event_id,
    new_item_id,
    realtime_error,
)
from neuraldrive_audio.api.realtime.session_config import AudioFormat, Modality
from neuraldrive_audio.api.realtime.session_render import render_format
from neuraldrive_audio.api.realtime.spoken import SpokenReply
from neuraldrive_audio.api.realtime.tools import FunctionTool, ToolChoice
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.llm import (
    LLMEvent,
    LLMText,
    LLMToolCall,
    LLMUsage,
    ToolCall,
    whole_tool_calls,
)
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

WriteFn = Callable[[str, list[dict[str, Any]], dict[str, Any]], AsyncIterator[LLMEvent]]
"""(LLM model, messages, LLM options) -> the LLM's typed stream (text, tool-call pieces,
finish, usage)."""

ForgetFn = Callable[[list[str]], Awaitable[None]]
"""Tells the client which items the conversation forgot to stay in bounds."""

Status = Literal["completed", "cancelled", "failed", "in_progress"]


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
    """Who speaks it (``response.created`` names this voice)."""
    options: dict[str, Any] = field(default_factory=dict)
    max_output_tokens: int | str = "inf"
    metadata: dict[str, str] | None = None
    in_conversation: bool = True
    """False for ``conversation: "none"``: the reply is not added to the conversation."""
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)

    def llm_options(self) -> dict[str, Any]:
        """The LLM request's further fields: options, and the tools when there are any."""
        if not self.tools:
            return dict(self.options)
        tools = [tool.chat() for tool in self.tools]
        return {**self.options, "tools": tools, "tool_choice": self.tool_choice.chat()}


_END = object()


@dataclass
class _Response:
    settings: ResponseSettings
    id: str = field(default_factory=lambda: "resp_" + secrets.token_hex(12))
    message: MessageItem | None = None
    outputs: list[ConversationItem] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    spoken: SpokenReply = field(default_factory=lambda: SpokenReply(OUTPUT_SAMPLE_RATE))
    usage: LLMUsage = field(default_factory=LLMUsage)
    timings: ReplyTimings | None = None
    completed: bool = False
    cancel_reason: Literal["turn_detected", "client_cancelled"] | None = None
    error: StatusError | None = None
    encoder: OutputEncoder | None = None
    events: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    producer: asyncio.Task[None] | None = None
    task: asyncio.Task[None] | None = None

    @property
    def audio(self) -> bool:
        return self.settings.modality == "audio"

    def message_ids(self) -> dict[str, Any]:
        """The fields that place an event in the message's (only) content part."""
        assert self.message is not None
        return {
            "response_id": self.id,
            "item_id": self.message.id,
            "output_index": self.outputs.index(self.message),
            "content_index": 0,
        }


def response_error(exc: Exception) -> StatusError:
    """The ``status_details.error`` (and ``error`` event body) for a failed reply."""
    if isinstance(exc, ServiceError):
        error = realtime_error(exc)
        return StatusError(type=error.type, code=error.code, message=error.message)
    return StatusError(type="server_error", code=None, message="The server failed the response.")


def _usage(usage: LLMUsage, audio_samples: int) -> RealtimeResponseUsage:
    spoken = audio_tokens(audio_samples / OUTPUT_SAMPLE_RATE)
    output = usage.completion_tokens + spoken
    return RealtimeResponseUsage(
        total_tokens=usage.prompt_tokens + output,
        input_tokens=usage.prompt_tokens,
        output_tokens=output,
        input_token_details=RealtimeResponseUsageInputTokenDetails(
            text_tokens=usage.prompt_tokens, audio_tokens=0, image_tokens=0, cached_tokens=0
        ),
        output_token_details=RealtimeResponseUsageOutputTokenDetails(
            text_tokens=usage.completion_tokens, audio_tokens=spoken
        ),
    )


class Responder:
    """Runs a session's responses, one at a time."""

    def __init__(
        self,
        emitter: EventEmitter,
        conversation: Conversation,
        backend: ReplyBackend,
        input_settled: Callable[[], Awaitable[None]],
        forget: ForgetFn,
    ) -> None:
        self._emitter = emitter
        self._conversation = conversation
        self._backend = backend
        self._input_settled = input_settled
        self._forget = forget
        self._active: _Response | None = None
        self._cleanups: set[asyncio.Task[None]] = set()
        self.last_id: str | None = None
        """The id of the latest response (active or ended)."""
        self.last_timings: ReplyTimings | None = None
        """The last finished reply's timings (for logs and tests)."""

    @property
    def active_id(self) -> str | None:
        """The id of the response in progress."""
        return self._active.id if self._active is not None else None

    @property
    def active_item_id(self) -> str | None:
        """The assistant message of the response in progress (None before its first event)."""
        message = self._active.message if self._active is not None else None
        return message.id if message is not None else None

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
        self.last_id = response.id
        response.task = asyncio.create_task(self._run(response))
        return response.id

    async def wait(self) -> None:
        """Until the response in progress (if any) has ended."""
        while self._active is not None and self._active.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._active.task)

    async def cancel(self, reason: Literal["turn_detected", "client_cancelled"]) -> bool:
        """End the response in progress as ``cancelled``; False when there is none.
        Returns after ``response.done``."""
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
            options = settings.llm_options()
            if response.audio:
                source = self._backend.speak(settings.model, messages, settings.voice, options)
                async with contextlib.aclosing(source):  # type: ignore[type-var]
                    async for event in source:
                        response.events.put_nowait(event)
            else:
                await self._produce_text(response, messages, options)
        except Exception as exc:
            response.events.put_nowait(exc)
        finally:
            response.events.put_nowait(_END)

    async def _produce_text(
        self, response: _Response, messages: list[dict[str, Any]], options: dict[str, Any]
    ) -> None:
        usage = LLMUsage()
        pieces: list[str] = []
        calls: list[LLMToolCall] = []
        source = self._backend.write(response.settings.model, messages, options)
        async with contextlib.aclosing(source):  # type: ignore[type-var]
            async for event in source:
                if isinstance(event, LLMUsage):
                    usage = event
                elif isinstance(event, LLMToolCall):
                    calls.append(event)
                elif isinstance(event, LLMText):
                    pieces.append(event.text)
                    response.events.put_nowait(TextDelta(event.text))
        whole = tuple(whole_tool_calls(calls))
        response.events.put_nowait(
            ReplyDone("".join(pieces), [], usage, 0, ReplyTimings(), tool_calls=whole)
        )

    # -- the response ------------------------------------------------------------------

    async def _run(self, response: _Response) -> None:
        try:
            await self._emitter.emit(
                ResponseCreatedEvent(
                    type="response.created",
                    event_id=new_event_id(),
                    response=self._render(response, "in_progress"),
                )
            )
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
        error = response.error = response_error(exc)
        log.info("realtime response failed: %s", exc, extra={"response_id": response.id})
        await self._emitter.error(
            error.message or "", type=error.type or "server_error", code=error.code
        )

    async def _add_output(self, response: _Response, item: ConversationItem) -> str | None:
        """Announce a new output item (and add it to the conversation); returns the id of
        the item before it in the conversation."""
        response.outputs.append(item)
        previous: str | None = None
        forgotten: list[str] = []
        if response.settings.in_conversation:
            previous, forgotten = self._conversation.add(item)
        await self._emitter.emit(
            ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                event_id=new_event_id(),
                response_id=response.id,
                output_index=len(response.outputs) - 1,
                item=render(item),
            )
        )
        if response.settings.in_conversation:
            await self._emitter.emit(added_event(item, previous))
        await self._forget(forgotten)
        return previous

    async def _done_output(self, response: _Response, item: ConversationItem) -> None:
        await self._emitter.emit(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                event_id=new_event_id(),
                response_id=response.id,
                output_index=response.outputs.index(item),
                item=render(item),
            )
        )
        if response.settings.in_conversation:
            await self._emitter.emit(done_event(item, None))

    async def _open_message(self, response: _Response) -> MessageItem:
        """The assistant message, announced when the reply's first words or audio arrive."""
        message = MessageItem(new_item_id(), "assistant", [], status="in_progress")
        message.spoken = response.spoken
        response.message = message
        await self._add_output(response, message)
        message.content = [self._content(response, "")]
        kind: Literal["audio", "text"] = "audio" if response.audio else "text"
        part = part_added.Part(type=kind, transcript="") if response.audio else (
            part_added.Part(type=kind, text="")
        )  # fmt: skip
        await self._emitter.emit(
            ResponseContentPartAddedEvent(
                type="response.content_part.added",
                event_id=new_event_id(),
                part=part,
                **response.message_ids(),
            )
        )
        return message

    @staticmethod
    def _content(response: _Response, text: str) -> ContentPart:
        if response.audio:
            return ContentPart("output_audio", transcript=text)
        return ContentPart("output_text", text=text)

    async def _on_event(self, response: _Response, event: ReplyEvent) -> None:
        if isinstance(event, ToolCall):
            response.calls.append(event)  # announced once the message is complete
            return
        if isinstance(event, ReplyDone):
            response.calls = response.calls or list(event.tool_calls)
            response.spoken.finish()
            response.usage = event.usage
            response.timings = event.timings
            self.last_timings = event.timings
            response.completed = True
            return
        if response.message is None:
            await self._open_message(response)
        if isinstance(event, TextDelta):
            response.text.append(event.text)
            ids = response.message_ids()
            if response.audio:
                await self._emitter.emit(
                    ResponseAudioTranscriptDeltaEvent(
                        type="response.output_audio_transcript.delta",
                        event_id=new_event_id(),
                        delta=event.text,
                        **ids,
                    )
                )
            else:
                await self._emitter.emit(
                    ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        event_id=new_event_id(),
                        delta=event.text,
                        **ids,
                    )
                )
        elif isinstance(event, AudioDelta):
            if response.encoder is None:
                response.encoder = OutputEncoder(response.settings.output_format)
            data = base64.b64encode(response.encoder.encode(event.pcm)).decode()
            await self._emitter.emit(
                ResponseAudioDeltaEvent(
                    type="response.output_audio.delta",
                    event_id=new_event_id(),
                    delta=data,
                    **response.message_ids(),
                )
            )
            response.spoken.sent(event.clause_index, event.clause, len(event.pcm) // 2)

    def _final_text(self, response: _Response) -> str:
        whole = "".join(response.text)
        if response.completed or not response.audio:
            return whole.strip()
        return response.spoken.heard_text()  # cut short: only what was sent was heard

    async def _finish_message(self, response: _Response, status: Status) -> None:
        message = response.message
        if message is None:
            return
        text = self._final_text(response)
        ids = response.message_ids()
        if response.audio:
            await self._emitter.emit(
                ResponseAudioDoneEvent(
                    type="response.output_audio.done", event_id=new_event_id(), **ids
                )
            )
            await self._emitter.emit(
                ResponseAudioTranscriptDoneEvent(
                    type="response.output_audio_transcript.done",
                    event_id=new_event_id(),
                    transcript=text,
                    **ids,
                )
            )
            part = part_done.Part(type="audio", transcript=text)
        else:
            await self._emitter.emit(
                ResponseTextDoneEvent(
                    type="response.output_text.done", event_id=new_event_id(), text=text, **ids
                )
            )
            part = part_done.Part(type="text", text=text)
        await self._emitter.emit(
            ResponseContentPartDoneEvent(
                type="response.content_part.done", event_id=new_event_id(), part=part, **ids
            )
        )
        message.content = [self._content(response, text)]
        message.status = "completed" if status == "completed" else "incomplete"
        await self._done_output(response, message)

    async def _emit_call(self, response: _Response, call: ToolCall) -> None:
        item = FunctionCallItem(new_item_id(), call.call_id, call.name, "", status="in_progress")
        await self._add_output(response, item)
        ids: dict[str, Any] = {
            "response_id": response.id,
            "item_id": item.id,
            "output_index": response.outputs.index(item),
            "call_id": call.call_id,
        }
        await self._emitter.emit(
            ResponseFunctionCallArgumentsDeltaEvent(
                type="response.function_call_arguments.delta",
                event_id=new_event_id(),
                delta=call.arguments,
                **ids,
            )
        )
        item.arguments = call.arguments
        item.status = "completed"
        await self._emitter.emit(
            ResponseFunctionCallArgumentsDoneEvent(
                type="response.function_call_arguments.done",
                event_id=new_event_id(),
                name=call.name,
                arguments=call.arguments,
                **ids,
            )
        )
        await self._done_output(response, item)

    async def _finish(self, response: _Response) -> None:
        status: Status = (
            "completed" if response.completed else "failed" if response.error else "cancelled"
        )
        await self._finish_message(response, status)
        if status == "completed":
            for call in response.calls:
                await self._emit_call(response, call)
        log.info(
            "realtime response %s", status,
            extra={"response_id": response.id, "timings": response.timings},
        )  # fmt: skip
        await self._emitter.emit(
            ResponseDoneEvent(
                type="response.done",
                event_id=new_event_id(),
                response=self._render(response, status),
            )
        )

    def _render(self, response: _Response, status: Status) -> RealtimeResponse:
        settings = response.settings
        done = status != "in_progress"
        details: RealtimeResponseStatus | None = None
        if status == "cancelled":
            details = RealtimeResponseStatus(type="cancelled", reason=response.cancel_reason)
        elif status == "failed":
            details = RealtimeResponseStatus(type="failed", error=response.error)
        elif status == "completed":
            details = None
        return RealtimeResponse(
            object="realtime.response",
            id=response.id,
            status=status,
            status_details=details,
            output=[render(item) for item in response.outputs] if done else [],
            conversation_id="conv_default" if settings.in_conversation else None,
            output_modalities=[settings.modality],
            max_output_tokens=settings.max_output_tokens,  # type: ignore[arg-type]
            audio=Audio(
                output=AudioOutput(
                    format=render_format(settings.output_format), voice=settings.voice.voice
                )
            ),
            metadata=settings.metadata,
            usage=_usage(response.usage, response.spoken.samples) if done else None,
        )
