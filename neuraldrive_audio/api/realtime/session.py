"""One live session: client events in, server events out.

The session owns the configuration, the input buffer, turn detection, the conversation and
the turn transcriber, and dispatches client events to them. A conversation session
(``session.type = "realtime"``) also has a responder (LLM -> speech replies) and the
conversation events (``conversation.item.*``, ``response.*``); their handlers live in
:mod:`conversation_events`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.realtime.conversation import Conversation
from neuraldrive_audio.api.realtime.conversation_events import (
    ConversationBackend,
    ConversationEvents,
)
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.input_buffer import InputAudioBuffer, decode_input
from neuraldrive_audio.api.realtime.protocol import (
    ClientEventError,
    decode_audio,
    new_item_id,
    new_session_id,
    parse_client_event,
)
from neuraldrive_audio.api.realtime.registry import RealtimeRegistry
from neuraldrive_audio.api.realtime.session_config import (
    SessionConfig,
    apply_beta,
    apply_ga,
    render_beta,
    render_conversation,
    render_ga,
)
from neuraldrive_audio.api.realtime.transcriber import (
    CommittedTurn,
    TranscriptionRequest,
    TurnTranscriber,
)
from neuraldrive_audio.api.realtime.turn_detection import TurnDetectionDriver
from neuraldrive_audio.media.languages import language_code
from neuraldrive_audio.media.vad import TurnEvent, TurnEventKind
from neuraldrive_audio.queue.client import JobQueue

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
"""Shortest buffer a commit accepts (OpenAI's rule)."""

IDLE_KEEP_MS = 500
"""With server VAD and no speech, audio older than the prefix padding plus this is dropped."""

ModelResolver = Callable[[str | None], str]
"""Client model name (None = default) -> installed model id; raises APIError."""

Handler = Callable[[dict[str, Any]], Awaitable[None]]

SESSION_UPDATES = ("session.update", "transcription_session.update")
"""Accepted in any session: they can make it a transcription session."""

REALTIME_ONLY_EVENTS = frozenset(
    {
        "conversation.item.create",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)


@dataclass
class SessionLimits:
    """Bounds of one session."""

    max_buffer_ms: int
    turn_timeout_s: float


class RealtimeSession:
    """State and event dispatch of one WebSocket session."""

    def __init__(
        self,
        *,
        emitter: EventEmitter,
        queue: JobQueue,
        registry: RealtimeRegistry,
        resolve_model: ModelResolver,
        limits: SessionLimits,
        config: SessionConfig,
        backend: ConversationBackend | None = None,
    ) -> None:
        self.id = new_session_id()
        self.emitter = emitter
        self.config = config
        self.conversation = Conversation()
        self._resolve_model = resolve_model
        self._limits = limits
        self.buffer = InputAudioBuffer(config.format.sample_rate)
        self._driver: TurnDetectionDriver | None = None
        self._speech_item_id: str | None = None
        self._reset_turn_detection()
        self.transcriber = TurnTranscriber(
            queue, emitter, registry, limits.turn_timeout_s, self._on_transcript
        )
        self._pending: dict[str, asyncio.Event] = {}
        self._auto_respond: set[str] = set()
        self.agent = ConversationEvents(self, backend) if backend is not None else None
        self._handlers: dict[str, Handler] = {
            "session.update": self._session_update,
            "transcription_session.update": self._transcription_session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
        }
        self._conversation_handlers = self.agent.handlers() if self.agent is not None else {}

    @property
    def conversing(self) -> bool:
        """A conversation session (responses) rather than a transcription session."""
        return self.config.type == "realtime" and self.agent is not None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, url_model: str | None) -> None:
        """Send ``session.created``; a model named in the URL becomes the transcription model."""
        error: APIError | None = None
        if url_model and self.config.type == "realtime":
            self.config = self.config.model_copy(update={"model": url_model})
        elif url_model:
            try:
                self._resolve_model(url_model)
                transcription = self.config.transcription.model_copy(update={"model": url_model})
                self.config = self.config.model_copy(update={"transcription": transcription})
            except APIError as exc:
                error = exc
        await self.emitter.emit("session.created", session=self._render_ga())
        if error is not None:
            await self.emitter.error(error.message, code=error.code, param="model")
        if self.config.type == "realtime" and self.agent is None:
            await self._realtime_unsupported(None)

    async def handle(self, raw: str | bytes) -> None:
        """Act on one client message; problems become ``error`` events."""
        event_id: str | None = None
        try:
            event = parse_client_event(raw)
            event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            await self._dispatch(event)
        except ClientEventError as exc:
            await self.emitter.error(
                exc.message, type=exc.type, code=exc.code, param=exc.param, event_id=event_id
            )
        except Exception:
            # A bug must cost one event, not the session (and its turns in flight).
            log.exception("realtime event failed", extra={"session_id": self.id})
            await self.emitter.error(
                "The server had an error processing the event.",
                type="server_error",
                event_id=event_id,
            )

    async def close(self) -> None:
        """The client left: cancel turns in flight (their jobs are aborted)."""
        self.emitter.closed = True
        if self.agent is not None:
            await self.agent.responder.close()
        await self.transcriber.close()

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        handler = self._handlers.get(kind)
        if self.conversing:
            handler = handler or self._conversation_handlers.get(kind)
        if handler is not None and (
            self.config.type == "transcription" or kind in SESSION_UPDATES or self.conversing
        ):
            await handler(event)
        elif kind in REALTIME_ONLY_EVENTS or self.config.type == "realtime":
            await self._realtime_unsupported(event.get("event_id"))
        else:
            raise ClientEventError(
                f"Invalid value: '{kind}'. Supported values are: {', '.join(self._handlers)}.",
                param="type",
            )

    async def _realtime_unsupported(self, event_id: str | None) -> None:
        await self.emitter.error(
            "Realtime conversation sessions (session.type 'realtime': responses, output audio) "
            "are not yet supported by this server; use session.type 'transcription'.",
            code="unsupported",
            param="session.type",
            event_id=event_id,
        )

    # -- configuration ---------------------------------------------------------------

    def _model_id(self) -> str:
        return self._resolve_model(self.config.transcription.model)

    def _model_name(self) -> str:
        return self.config.transcription.model or "whisper-1"

    def _render_ga(self) -> dict[str, Any]:
        if self.conversing:
            model = self.config.model or "gpt-realtime"
            return render_conversation(self.config, self.id, model, self._model_name())
        return render_ga(self.config, self.id, self._model_name())

    async def _session_update(self, event: dict[str, Any]) -> None:
        config = apply_ga(self.config, event.get("session"))
        if config.type != self.config.type:
            # The type is chosen when connecting (intent=transcription or not), as OpenAI does.
            raise ClientEventError(
                f"Cannot change the session type from '{self.config.type}' to "
                f"'{config.type}'; connect to /v1/realtime with intent=transcription for a "
                "transcription session, without it for a conversation.",
                code="invalid_value",
                param="session.type",
            )
        if config.type == "realtime":
            if self.agent is None:
                await self._realtime_unsupported(event.get("event_id"))
                return
            self.agent.check_config(config)
        await self._apply(config)
        await self.emitter.emit("session.updated", session=self._render_ga())

    async def _transcription_session_update(self, event: dict[str, Any]) -> None:
        await self._apply(apply_beta(self.config, event.get("session")))
        session = render_beta(self.config, self.id, self._model_name())
        await self.emitter.emit("transcription_session.updated", session=session)

    async def _apply(self, config: SessionConfig) -> None:
        try:
            self._resolve_model(config.transcription.model)
        except APIError as exc:
            raise ClientEventError(
                exc.message,
                code=exc.code or "model_not_found",
                param="session.audio.input.transcription.model",
            ) from exc
        old = self.config
        self.config = config
        if config.format is not old.format:
            # A new rate: the buffered audio can't be mixed with what comes next.
            self.buffer = InputAudioBuffer(config.format.sample_rate, start_ms=self.buffer.end_ms)
        if config.turn_detection != old.turn_detection or config.format is not old.format:
            self._reset_turn_detection()

    def _reset_turn_detection(self) -> None:
        detection = self.config.turn_detection
        self._speech_item_id = None
        self._driver = (
            TurnDetectionDriver(
                self.buffer.sample_rate, detection.vad_settings(), self.buffer.end_ms
            )
            if detection is not None
            else None
        )

    # -- input audio -----------------------------------------------------------------

    async def _append(self, event: dict[str, Any]) -> None:
        samples = decode_input(decode_audio(event.get("audio")), self.config.format)
        self.buffer.append(samples)
        if self._driver is not None:
            driver = self._driver
            for decision in await asyncio.to_thread(driver.process, samples):
                await self._on_turn_event(decision)
            if not driver.in_speech:
                padding = driver.settings.prefix_padding_ms
                self.buffer.drop_before(self.buffer.end_ms - padding - IDLE_KEEP_MS)
        if self.buffer.length_ms >= self._limits.max_buffer_ms:
            # Bounded memory without losing speech: a turn this long is committed as it is.
            log.info("realtime buffer reached %d ms; committing it", self.buffer.length_ms)
            await self._commit_turn(None, self._speech_item_id or new_item_id())
            self._reset_turn_detection()

    async def _on_turn_event(self, decision: TurnEvent) -> None:
        if decision.kind is TurnEventKind.SPEECH_STARTED:
            self._speech_item_id = new_item_id()
            self.buffer.drop_before(decision.audio_ms)
            await self.emitter.emit(
                "input_audio_buffer.speech_started",
                audio_start_ms=decision.audio_ms,
                item_id=self._speech_item_id,
            )
            detection = self.config.turn_detection
            barge_in = detection is not None and detection.interrupts_response
            if self.agent is not None and self.conversing and barge_in:
                await self.agent.responder.cancel("turn_detected")  # barge-in
            return
        item_id = self._speech_item_id or new_item_id()
        self._speech_item_id = None
        await self.emitter.emit(
            "input_audio_buffer.speech_stopped", audio_end_ms=decision.audio_ms, item_id=item_id
        )
        detection = self.config.turn_detection
        if detection is not None and detection.creates_response:
            self._auto_respond.add(item_id)
        await self._commit_turn(decision.audio_ms, item_id)

    async def _commit(self, event: dict[str, Any]) -> None:
        in_speech = self._driver is not None and self._driver.in_speech
        nothing_said = self._driver is not None and not in_speech
        if nothing_said or self.buffer.length_ms < MIN_COMMIT_MS:
            held = 0 if nothing_said else self.buffer.length_ms
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {held}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        await self._commit_turn(None, self._speech_item_id or new_item_id())
        if in_speech:
            self._reset_turn_detection()

    async def _clear(self, event: dict[str, Any]) -> None:
        self.buffer.clear()
        self._reset_turn_detection()
        await self.emitter.emit("input_audio_buffer.cleared")

    async def _commit_turn(self, end_ms: int | None, item_id: str) -> None:
        stopped_at = time.monotonic()
        audio = self.buffer.take(end_ms)
        previous = self.conversation.add_user_audio(item_id)
        await self.emitter.emit(
            "input_audio_buffer.committed", item_id=item_id, previous_item_id=previous
        )
        if self.conversing:
            await self.item_added(item_id, previous)
        self.transcribe(CommittedTurn(item_id, audio, self.buffer.sample_rate, stopped_at))

    async def item_added(self, item_id: str, previous: str | None) -> None:
        """Announce an item just added to the conversation (``conversation.item.added``)."""
        item = self.conversation.get(item_id)
        if item is None:
            return
        if item.status == "in_progress":
            self._pending[item_id] = asyncio.Event()
        await self.emitter.emit(
            "conversation.item.added", previous_item_id=previous, item=item.render()
        )
        if item.status != "in_progress":
            await self.emitter.emit(
                "conversation.item.done", previous_item_id=previous, item=item.render()
            )

    async def input_settled(self) -> None:
        """Until every user audio item added so far has its transcript (or failed)."""
        for pending in list(self._pending.values()):
            await pending.wait()

    def transcribe(self, turn: CommittedTurn) -> None:
        """Transcribe a user audio item (a committed turn or a created audio item)."""
        try:
            request = TranscriptionRequest(
                self._model_id(), self._language(), self.config.transcription.prompt
            )
        except APIError as exc:
            self.transcriber.start_failed(turn, exc)
            return
        self.transcriber.start(turn, request)

    def _language(self) -> str | None:
        language = self.config.transcription.language
        return language_code(language) if language else None

    async def _on_transcript(self, item_id: str, transcript: str | None) -> None:
        self.conversation.set_transcript(item_id, transcript)
        pending = self._pending.pop(item_id, None)
        if pending is not None:
            pending.set()
        if not self.conversing or self.agent is None:
            return
        item = self.conversation.get(item_id)
        if item is not None:
            await self.emitter.emit("conversation.item.done", item=item.render())
        if item_id in self._auto_respond:
            self._auto_respond.discard(item_id)
            if transcript:  # nothing understood: nothing to answer
                await self.agent.respond_to_turn()
