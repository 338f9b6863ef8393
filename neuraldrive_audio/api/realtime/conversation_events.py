"""The client events only a conversation session (``session.type = "realtime"``) has:
``conversation.item.create`` / ``retrieve`` / ``truncate`` / ``delete``, ``response.create``
/ ``cancel``, and the automatic response to a turn the VAD committed."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neuraldrive_audio.api.errors import APIError
from neuraldrive_audio.api.realtime.input_buffer import decode_input
from neuraldrive_audio.api.realtime.items import read_item
from neuraldrive_audio.api.realtime.protocol import ClientEventError
from neuraldrive_audio.api.realtime.responder import (
    ReplyBackend,
    Responder,
    ResponseSettings,
)
from neuraldrive_audio.api.realtime.session_config import (
    Modality,
    SessionConfig,
    ga_format,
    voice_name,
)
from neuraldrive_audio.api.realtime.transcriber import CommittedTurn
from neuraldrive_audio.service.reply import ReplyVoice

if TYPE_CHECKING:
    from neuraldrive_audio.api.realtime.session import RealtimeSession

Handler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ConversationBackend:
    """What a conversation session needs beyond transcription."""

    replies: ReplyBackend
    llm_model: Callable[[str | None], str]
    """Client model name (None = the configured LLM) -> the LLM's model."""
    voice: Callable[[str, float], ReplyVoice]
    """Client voice name and speed -> how replies are spoken; raises APIError."""


def _item_id(event: dict[str, Any]) -> str:
    item_id = event.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        raise ClientEventError("'item_id' is required.", code="missing_required_parameter",
                               param="item_id")  # fmt: skip
    return item_id


def _not_found(item_id: str) -> ClientEventError:
    return ClientEventError(
        f"Item with item_id '{item_id}' not found.", code="item_not_found", param="item_id"
    )


class ConversationEvents:
    """Handlers of a conversation session's own client events."""

    def __init__(self, session: RealtimeSession, backend: ConversationBackend) -> None:
        self._session = session
        self._backend = backend
        self.responder = Responder(
            session.emitter, session.conversation, backend.replies, session.input_settled
        )

    def handlers(self) -> dict[str, Handler]:
        """Client event type -> handler."""
        return {
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }

    def _voice(self, name: str, speed: float, param: str) -> ReplyVoice:
        try:
            return self._backend.voice(name, speed)
        except APIError as exc:
            raise ClientEventError(exc.message, code=exc.code or "invalid_value",
                                   param=param) from exc  # fmt: skip

    def check_config(self, config: SessionConfig) -> None:
        """Refuse a ``session.update`` whose voice the reply TTS model can't speak."""
        self._voice(config.voice, config.speed, "session.audio.output.voice")

    # -- responses -----------------------------------------------------------------------

    def _settings(self, params: dict[str, Any]) -> ResponseSettings:
        config = self._session.config
        modality: Modality = config.output_modalities[0]
        wanted = params.get("output_modalities")
        if wanted is not None:
            if not isinstance(wanted, list) or not set(wanted) <= {"text", "audio"} or not wanted:
                raise ClientEventError(
                    '\'response.output_modalities\' must be ["audio"] or ["text"].',
                    param="response.output_modalities",
                )
            modality = "audio" if "audio" in wanted else "text"
        output = (params.get("audio") or {}).get("output") or {}
        fmt = config.output_format
        if output.get("format") is not None:
            fmt = ga_format(output["format"], "response.audio.output.format")
        client_voice = config.voice
        if output.get("voice") is not None:
            client_voice = voice_name(output["voice"], "response.audio.output.voice")
        voice = self._voice(client_voice, config.speed, "response.audio.output.voice")
        max_tokens = params.get("max_output_tokens", config.max_output_tokens)
        options = {"max_tokens": max_tokens} if isinstance(max_tokens, int) else {}
        instructions = params.get("instructions")
        if params.get("input") is not None:
            raise ClientEventError(
                "'response.input' is not supported; the response reads the conversation.",
                code="unsupported",
                param="response.input",
            )
        return ResponseSettings(
            model=self._backend.llm_model(config.model),
            instructions=instructions if isinstance(instructions, str) else config.instructions,
            modality=modality,
            output_format=fmt,
            voice=voice,
            client_voice=client_voice,
            options=options,
            max_output_tokens=max_tokens,
            metadata=params.get("metadata"),
            in_conversation=params.get("conversation", "auto") != "none",
        )

    async def respond_to_turn(self) -> None:
        """A turn the VAD committed was transcribed: answer it (after the response in
        progress, when speech did not interrupt it)."""
        try:
            settings = self._settings({})
            await self.responder.wait()
            self.responder.start(settings)
        except ClientEventError as exc:  # e.g. a response.create got in first
            await self._session.emitter.error(exc.message, code=exc.code, param=exc.param)

    async def _response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise ClientEventError("'response' must be an object.", param="response")
        self.responder.start(self._settings(params))

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        active = self.responder.active_id
        if active is None or (wanted is not None and wanted != active):
            raise ClientEventError(
                "Cancellation failed: no active response found.",
                code="response_cancel_not_active",
            )
        await self.responder.cancel("client_cancelled")

    # -- items ---------------------------------------------------------------------------

    async def _item_create(self, event: dict[str, Any]) -> None:
        session = self._session
        new = read_item(event.get("item"))
        if session.conversation.get(new.item.id) is not None:
            raise ClientEventError(f"Item with id '{new.item.id}' already exists.", param="item.id")
        after = event.get("previous_item_id")
        try:
            previous = session.conversation.add(new.item, after if isinstance(after, str) else None)
        except KeyError as exc:
            raise ClientEventError(
                f"Previous item with item_id '{after}' not found.",
                code="item_not_found",
                param="previous_item_id",
            ) from exc
        await session.item_added(new.item.id, previous)
        if new.audio is not None:
            fmt = session.config.format
            samples = decode_input(new.audio, fmt)
            session.transcribe(
                CommittedTurn(new.item.id, samples, fmt.sample_rate, time.monotonic())
            )

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = _item_id(event)
        item = self._session.conversation.get(item_id)
        if item is None:
            raise _not_found(item_id)
        await self._session.emitter.emit("conversation.item.retrieved", item=item.render())

    async def _item_delete(self, event: dict[str, Any]) -> None:
        item_id = _item_id(event)
        if not self._session.conversation.delete(item_id):
            raise _not_found(item_id)
        await self._session.emitter.emit("conversation.item.deleted", item_id=item_id)

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id = _item_id(event)
        item = self._session.conversation.get(item_id)
        if item is None:
            raise _not_found(item_id)
        if item.role != "assistant" or item.spoken is None:
            raise ClientEventError(
                "Only an assistant message item with audio can be truncated.", param="item_id"
            )
        if event.get("content_index", 0) != 0:
            raise ClientEventError("'content_index' must be 0.", param="content_index")
        end_ms = event.get("audio_end_ms")
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            raise ClientEventError("'audio_end_ms' must be a non-negative integer.",
                                   param="audio_end_ms")  # fmt: skip
        if end_ms > item.spoken.duration_ms:
            raise ClientEventError(
                f"Audio content of {item.spoken.duration_ms}ms is already shorter than {end_ms}ms.",
                param="audio_end_ms",
            )
        if self.responder.active_item_id == item_id:
            await self.responder.cancel("client_cancelled")  # it is no longer being heard
        transcript = item.spoken.heard_text(end_ms)
        item.content = [{"type": "output_audio", "transcript": transcript}]
        item.status = "incomplete"
        await self._session.emitter.emit(
            "conversation.item.truncated", item_id=item_id, content_index=0,
            audio_end_ms=end_ms,
        )  # fmt: skip
