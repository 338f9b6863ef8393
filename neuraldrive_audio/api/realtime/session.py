"""One live session: client events in, typed; handlers by area, in one table; server
events out.

:data:`ROUTES` is the whole dispatch: a client event's model -> its handler, and whether
only a conversation session (``session.type = "realtime"``) has it. An unknown ``type``,
or a conversation event in a transcription session, gets OpenAI's ``invalid_value`` error
on ``type``; any other problem an ``error`` event; the session goes on either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from neuraldrive_audio.api.realtime import (
    input_audio_events,
    item_events,
    response_events,
    session_events,
)
from neuraldrive_audio.api.realtime.client_events import (
    EVENT_MODELS,
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    TranscriptionSessionUpdate,
    parse_client_event,
    read_json,
    unknown_type,
)
from neuraldrive_audio.api.realtime.context import (
    ConversationBackend,
    ModelResolver,
    SessionContext,
    SessionLimits,
)
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.protocol import ClientEventError
from neuraldrive_audio.api.realtime.registry import RealtimeRegistry
from neuraldrive_audio.api.realtime.session_config import SessionConfig
from neuraldrive_audio.api.realtime.transcriber import TurnTranscriber
from neuraldrive_audio.queue.client import JobQueue

__all__ = ["ConversationBackend", "ModelResolver", "RealtimeSession", "SessionLimits"]

log = logging.getLogger(__name__)

Handler = Callable[[SessionContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """Where a client event goes."""

    handler: Handler
    conversation_only: bool = False


ROUTES: dict[type[ClientEvent], Route] = {
    SessionUpdate: Route(session_events.session_update),
    TranscriptionSessionUpdate: Route(session_events.transcription_session_update),
    InputAudioBufferAppend: Route(input_audio_events.append),
    InputAudioBufferCommit: Route(input_audio_events.commit),
    InputAudioBufferClear: Route(input_audio_events.clear),
    ConversationItemCreate: Route(item_events.create, conversation_only=True),
    ConversationItemRetrieve: Route(item_events.retrieve, conversation_only=True),
    ConversationItemDelete: Route(item_events.delete, conversation_only=True),
    ConversationItemTruncate: Route(item_events.truncate, conversation_only=True),
    ResponseCreate: Route(response_events.create, conversation_only=True),
    ResponseCancel: Route(response_events.cancel, conversation_only=True),
    OutputAudioBufferClear: Route(response_events.clear_output_audio, conversation_only=True),
}

TRANSCRIPTION_EVENTS = [
    name for name, model in EVENT_MODELS.items() if not ROUTES[model].conversation_only
]


class RealtimeSession:
    """One WebSocket session: its context and the dispatch of its client events."""

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
        transcriber = TurnTranscriber(
            queue, emitter, registry, limits.turn_timeout_s, self._on_transcript
        )
        self.context = SessionContext(
            emitter=emitter,
            transcriber=transcriber,
            resolve_model=resolve_model,
            limits=limits,
            config=config,
            backend=backend,
        )
        self.context.respond_to_turn = self._respond_to_turn
        self.id = self.context.id

    async def _on_transcript(self, item_id: str, transcript: str | None) -> None:
        await self.context.on_transcript(item_id, transcript)

    async def _respond_to_turn(self) -> None:
        await response_events.respond_to_turn(self.context)

    async def start(self, url_model: str | None) -> None:
        """Send ``session.created``."""
        await session_events.start(self.context, url_model)

    async def handle(self, raw: str | bytes) -> None:
        """Act on one client message; problems become ``error`` events."""
        ctx = self.context
        event_id: str | None = None
        try:
            if len(raw) > ctx.limits.max_message_bytes:
                raise ClientEventError(
                    f"The message is {len(raw)} bytes, more than this server's limit of "
                    f"{ctx.limits.max_message_bytes}; send audio in smaller chunks.",
                    code="message_too_large",
                )
            fields = read_json(raw)
            event_id = fields.get("event_id") if isinstance(fields.get("event_id"), str) else None
            event = parse_client_event(fields)
            route = ROUTES[type(event)]
            if route.conversation_only and not ctx.conversing:
                raise unknown_type(fields["type"], TRANSCRIPTION_EVENTS)
            await route.handler(ctx, event)
        except ClientEventError as exc:
            await ctx.emitter.client_error(exc, event_id)
        except Exception:
            # A bug must cost one event, not the session (and its turns in flight).
            log.exception("realtime event failed", extra={"session_id": self.id})
            await ctx.emitter.error(
                "The server had an error processing the event.",
                type="server_error",
                event_id=event_id,
            )

    async def close(self) -> None:
        """The client left: cancel turns and the response in flight (their jobs are aborted)."""
        ctx = self.context
        ctx.emitter.closed = True
        if ctx.responder is not None:
            await ctx.responder.close()
        await ctx.transcriber.close()
