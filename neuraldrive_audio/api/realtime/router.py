"""``GET /v1/realtime``: the Realtime API over WebSocket (transcription and conversation
sessions)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from neuraldrive_audio.api.http.errors import APIError
from neuraldrive_audio.api.realtime.auth import key_matches, offered_credentials
from neuraldrive_audio.api.realtime.conversation import ConversationLimits
from neuraldrive_audio.api.realtime.emitter import EventEmitter
from neuraldrive_audio.api.realtime.responder import ReplyBackend
from neuraldrive_audio.api.realtime.session import (
    ConversationBackend,
    ModelResolver,
    RealtimeSession,
    SessionLimits,
)
from neuraldrive_audio.api.realtime.session_config import ConfigLimits, SessionConfig
from neuraldrive_audio.api.realtime.session_registry import (
    RealtimeRegistry,
    SessionLimitError,
    key_id,
)
from neuraldrive_audio.config import Settings, get_settings
from neuraldrive_audio.service.llm import LLMEvent
from neuraldrive_audio.service.reply import ReplyEvent, ReplyVoice
from neuraldrive_audio.service.speech_service import SpeechService

log = logging.getLogger(__name__)

router = APIRouter(tags=["realtime"])


def realtime_registry(app: FastAPI, settings: Settings) -> RealtimeRegistry:
    """The app's session registry, made on first use."""
    registry: RealtimeRegistry | None = getattr(app.state, "realtime", None)
    if registry is None:
        registry = RealtimeRegistry(
            settings.realtime_max_sessions, settings.realtime_max_sessions_per_key
        )
        app.state.realtime = registry
    return registry


async def _deny(websocket: WebSocket, error: APIError) -> None:
    """Refuse before the upgrade with a real HTTP status and OpenAI's error body."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error.response())
    else:  # servers without the denial extension can only refuse with a close (403)
        await websocket.close(code=1008, reason=error.message[:120])


def session_limits(settings: Settings) -> SessionLimits:
    """A live session's bounds, from the settings."""
    return SessionLimits(
        max_buffer_ms=int(settings.realtime_max_buffer_s * 1000),
        turn_timeout_s=settings.sync_timeout_s,
        max_message_bytes=settings.realtime_max_message_bytes,
        config=ConfigLimits(
            max_instructions_chars=settings.realtime_max_instructions_chars,
            max_tools=settings.realtime_max_tools,
            max_tools_bytes=settings.realtime_max_tools_bytes,
        ),
        conversation=ConversationLimits(
            max_items=settings.realtime_max_items,
            max_bytes=settings.realtime_max_conversation_bytes,
            context_tokens=settings.realtime_context_tokens,
        ),
    )


def _resolver(service: SpeechService) -> ModelResolver:
    def resolve(name: str | None) -> str:
        return service.asr_model(name).id

    return resolve


def _conversation_backend(service: SpeechService) -> ConversationBackend:
    """Replies from the configured LLM, spoken on the workers by the reply voice the
    service chooses (``VOICE_TTS_MODEL``, or ``VOICE_TTS_POLICY``)."""

    def speak(
        model: str, messages: list[dict[str, Any]], voice: ReplyVoice, options: dict[str, Any]
    ) -> AsyncIterator[ReplyEvent]:
        return service.reply(model, messages, voice, options)

    def write(
        model: str, messages: list[dict[str, Any]], options: dict[str, Any]
    ) -> AsyncIterator[LLMEvent]:
        return service.llm.stream(model, messages, options)

    def voice(name: str, speed: float) -> ReplyVoice:
        return service.reply_voice(name, speed)

    return ConversationBackend(ReplyBackend(speak, write), service.llm_model, voice)


@router.websocket("/v1/realtime")
async def realtime(
    websocket: WebSocket, intent: str | None = None, model: str | None = None
) -> None:
    """A live session. ``intent=transcription`` opens a transcription session."""
    app: FastAPI = websocket.app
    settings: Settings = getattr(app.state, "settings", None) or get_settings()
    expected: str | None = getattr(app.state, "api_key", None) or settings.resolve_api_key()
    credentials = offered_credentials(websocket.headers)
    if not expected:
        await _deny(
            websocket, APIError(503, "No API key is configured on the server.", code="no_api_key")
        )
        return
    if not key_matches(credentials.key, expected):
        message = (
            "Incorrect API key provided."
            if credentials.key
            else "You didn't provide an "
            "API key (Authorization: Bearer <key>, or the openai-insecure-api-key.<key> "
            "subprotocol)."
        )
        await _deny(websocket, APIError(401, message, code="invalid_api_key"))
        return
    registry = realtime_registry(app, settings)
    owner = key_id(expected)
    try:
        registry.open_session(owner)
    except SessionLimitError as exc:
        await _deny(
            websocket,
            APIError(
                429,
                f"Too many realtime sessions: {exc}.",
                code="session_limit_reached",
                type="rate_limit_error",
                headers={"Retry-After": "5"},
            ),
        )
        return
    try:
        await _serve(websocket, app, settings, registry, intent, model)
    finally:
        registry.close_session(owner)


async def _serve(
    websocket: WebSocket,
    app: FastAPI,
    settings: Settings,
    registry: RealtimeRegistry,
    intent: str | None,
    model: str | None,
) -> None:
    service: SpeechService = app.state.service
    await service.refresh_worker_devices()  # who speaks replies depends on them
    await websocket.accept(subprotocol=offered_credentials(websocket.headers).subprotocol)
    session = RealtimeSession(
        emitter=EventEmitter(websocket.send_text),
        queue=service.queue,
        registry=registry,
        resolve_model=_resolver(service),
        limits=session_limits(settings),
        config=SessionConfig(type="transcription" if intent == "transcription" else "realtime"),
        backend=_conversation_backend(service),
    )
    log.info("realtime session opened", extra={"session_id": session.id})
    try:
        await session.start(model)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            await session.handle(data if data is not None else message.get("bytes") or b"")
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
        log.info("realtime session closed", extra={"session_id": session.id})
