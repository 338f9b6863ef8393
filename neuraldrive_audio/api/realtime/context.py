"""The state of one live session, shared by the handlers of its client events.

A :class:`SessionContext` holds the configuration, the emitter, the input buffer and turn
detection, the conversation, the turn transcriber and, in a conversation session, the
responder; and the few operations several handler areas need (commit a turn, announce an
item, forget items past the bounds). The handlers themselves live in one module per area
(:mod:`session_events`, :mod:`input_audio_events`, :mod:`item_events`,
:mod:`response_events`) and are registered in one table in :mod:`session`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from openai.types.realtime import (
    ConversationItemDeletedEvent,
    InputAudioBufferCommittedEvent,
)

from neuraldrive_audio.api.realtime.conversation import Conversation, ConversationLimits
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.input_buffer import InputAudioBuffer
from neuraldrive_audio.api.realtime.items import (
    ConversationItem,
    MessageItem,
    added_event,
    done_event,
)
from neuraldrive_audio.api.realtime.protocol import new_event_id, new_session_id
from neuraldrive_audio.api.realtime.responder import ReplyBackend, Responder
from neuraldrive_audio.api.realtime.session_config import ConfigLimits, SessionConfig
from neuraldrive_audio.api.realtime.transcriber import (
    CommittedTurn,
    TranscriptionRequest,
    TurnTranscriber,
)
from neuraldrive_audio.api.realtime.turn_detection import TurnDetectionDriver
from neuraldrive_audio.media.languages import language_code
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.reply import ReplyVoice

ModelResolver = Callable[[str | None], str]
"""Client model name (None = default) -> installed model id; raises ServiceError."""


@dataclass(frozen=True)
class SessionLimits:
    """Bounds of one session."""

    max_buffer_ms: int
    turn_timeout_s: float
    max_message_bytes: int = 4 * 1024 * 1024
    """A client message larger than this is refused with an ``error`` event, unread."""
    config: ConfigLimits = field(default_factory=ConfigLimits)
    conversation: ConversationLimits = field(default_factory=ConversationLimits)


@dataclass(frozen=True)
class ConversationBackend:
    """What a conversation session needs beyond transcription."""

    replies: ReplyBackend
    llm_model: Callable[[str | None], str]
    """Client model name (None = the configured LLM) -> the LLM's model."""
    voice: Callable[[str, float], ReplyVoice]
    """Client voice name and speed -> how replies are spoken; raises ServiceError."""


TurnHook = Callable[[], Awaitable[None]]

EARLY_PAUSE_MS = 200
"""Quiet after speech from which the speech so far is transcribed ahead of speech_stopped
(or half the VAD's pause, if shorter). Pauses between words are shorter; a longer pause
that does not end the turn costs one job, aborted when speech resumes."""


class SessionContext:
    """Everything one session's handlers share."""

    def __init__(
        self,
        *,
        emitter: EventEmitter,
        transcriber: TurnTranscriber,
        resolve_model: ModelResolver,
        limits: SessionLimits,
        config: SessionConfig,
        backend: ConversationBackend | None,
    ) -> None:
        self.id = new_session_id()
        self.emitter = emitter
        self.config = config
        self.limits = limits
        self.resolve_model = resolve_model
        self.backend = backend
        self.conversation = Conversation(limits.conversation)
        self.buffer = InputAudioBuffer(config.format.sample_rate)
        self.driver: TurnDetectionDriver | None = None
        self.speech_item_id: str | None = None
        """The user item of the speech in progress (between speech_started and _stopped)."""
        self.transcriber = transcriber
        self.responder: Responder | None = None
        if backend is not None and config.type == "realtime":
            self.responder = Responder(
                emitter, self.conversation, backend.replies, self.input_settled, self.forget
            )
        self.auto_respond: set[str] = set()
        """User items the VAD committed that get a response once transcribed."""
        self.respond_to_turn: TurnHook | None = None
        """Starts the automatic response to a turn (set by the response handlers)."""
        self._pending: dict[str, asyncio.Event] = {}
        self.reset_turn_detection()

    @property
    def conversing(self) -> bool:
        """A conversation session (responses) rather than a transcription session."""
        return self.responder is not None

    # -- configuration ----------------------------------------------------------------------

    def model_id(self) -> str:
        """The installed transcription model of the session."""
        return self.resolve_model(self.config.transcription.model)

    def model_name(self) -> str:
        """The transcription model's name as the client knows it."""
        return self.config.transcription.model or "whisper-1"

    def spoken_voice(self) -> str:
        """The voice that speaks the session's replies, as ``session.updated`` names it: the
        client's voice resolved (OpenAI's ``alloy`` may be a Piper voice on a CPU box), or
        the client's name when no installed model can speak it."""
        if self.backend is None:
            return self.config.voice
        try:
            return self.backend.voice(self.config.voice, self.config.speed).voice
        except ServiceError:
            return self.config.voice

    def reset_turn_detection(self) -> None:
        """A fresh VAD from the buffer's end (new settings, a clear, a forced commit)."""
        detection = self.config.turn_detection
        self.speech_item_id = None
        self.transcriber.discard_early()
        self.driver = (
            TurnDetectionDriver(
                self.buffer.sample_rate, detection.vad_settings(), self.buffer.end_ms
            )
            if detection is not None
            else None
        )

    # -- items ------------------------------------------------------------------------------

    async def commit_turn(self, end_ms: int | None, item_id: str) -> None:
        """Commit the buffer (up to ``end_ms``) as user item ``item_id`` and transcribe it."""
        stopped_at = time.monotonic()
        audio = self.buffer.take(end_ms)
        previous, forgotten = self.conversation.add_user_audio(item_id)
        await self.emitter.emit(
            InputAudioBufferCommittedEvent(
                type="input_audio_buffer.committed",
                event_id=new_event_id(),
                item_id=item_id,
                previous_item_id=previous,
            )
        )
        if self.conversing:
            await self.item_added(item_id, previous)
        await self.forget(forgotten)
        self.transcribe(CommittedTurn(item_id, audio, self.buffer.sample_rate, stopped_at))

    async def item_added(self, item_id: str, previous: str | None) -> None:
        """Announce an item just added to the conversation (``conversation.item.added``,
        and ``.done`` at once unless it waits for its transcript)."""
        item = self.conversation.get(item_id)
        if item is None:
            return
        if item.status == "in_progress" and isinstance(item, MessageItem):
            self._pending[item_id] = asyncio.Event()
        await self.emitter.emit(added_event(item, previous))
        if item.status != "in_progress":
            await self.item_done(item, previous)

    async def item_done(self, item: ConversationItem, previous: str | None) -> None:
        """``conversation.item.done`` for an item that is complete."""
        await self.emitter.emit(done_event(item, previous))

    async def forget(self, item_ids: list[str]) -> None:
        """Tell the client the conversation forgot these (oldest) items to stay in bounds."""
        for item_id in item_ids:
            await self.emitter.emit(
                ConversationItemDeletedEvent(
                    type="conversation.item.deleted", event_id=new_event_id(), item_id=item_id
                )
            )

    async def input_settled(self) -> None:
        """Until every user audio item added so far has its transcript (or failed)."""
        for pending in list(self._pending.values()):
            await pending.wait()

    # -- transcription ----------------------------------------------------------------------

    def transcription_request(self) -> TranscriptionRequest:
        """What the session's configuration asks of a turn's transcription; ServiceError
        when its model is not installed."""
        language = self.config.transcription.language
        return TranscriptionRequest(
            self.model_id(),
            language_code(language) if language else None,
            self.config.transcription.prompt,
        )

    def transcribe(self, turn: CommittedTurn) -> None:
        """Transcribe a user audio item (a committed turn or a created audio item)."""
        try:
            request = self.transcription_request()
        except ServiceError as exc:
            self.transcriber.start_failed(turn, exc)
            return
        self.transcriber.start(turn, request)

    def follow_pause(self) -> None:
        """While the VAD holds its pause after speech, transcribe the speech so far ahead of
        speech_stopped (from ``EARLY_PAUSE_MS`` of quiet on), so the turn's transcript is
        ready sooner; speech that resumes discards that job."""
        driver, item_id = self.driver, self.speech_item_id
        if driver is None or item_id is None or not driver.in_speech:
            return
        pause = driver.pause_ms
        if pause == 0:
            self.transcriber.discard_early()
            return
        settings = driver.settings
        if pause < min(EARLY_PAUSE_MS, settings.silence_duration_ms // 2):
            return
        if self.transcriber.has_early(item_id):
            return
        try:
            request = self.transcription_request()
        except ServiceError:
            return  # the commit reports it
        self.transcriber.start_early(item_id, self.buffer.peek(), self.buffer.sample_rate, request)

    async def on_transcript(self, item_id: str, transcript: str | None) -> None:
        """A turn's transcript is known (None: it failed)."""
        forgotten = self.conversation.set_transcript(item_id, transcript)
        pending = self._pending.pop(item_id, None)
        if pending is not None:
            pending.set()
        if not self.conversing:
            return
        item = self.conversation.get(item_id)
        if item is not None:
            await self.item_done(item, None)
        await self.forget(forgotten)
        if item_id in self.auto_respond:
            self.auto_respond.discard(item_id)
            if transcript and self.respond_to_turn is not None:  # nothing understood: no answer
                await self.respond_to_turn()
