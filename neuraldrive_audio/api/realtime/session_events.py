"""Handlers of the session's own events: ``session.update`` (GA) and the legacy
``transcription_session.update``; and ``session.created`` when the socket opens."""

from __future__ import annotations

from openai import BaseModel
from openai.types.realtime import SessionCreatedEvent, SessionUpdatedEvent

from neuraldrive_audio.api.realtime.client_events import SessionUpdate, TranscriptionSessionUpdate
from neuraldrive_audio.api.realtime.context import SessionContext
from neuraldrive_audio.api.realtime.input_buffer import InputAudioBuffer
from neuraldrive_audio.api.realtime.protocol import ClientEventError, new_event_id, realtime_error
from neuraldrive_audio.api.realtime.session_config import SessionConfig, apply_beta, apply_ga
from neuraldrive_audio.api.realtime.session_render import (
    BetaTranscriptionSessionUpdated,
    render_beta,
    render_conversation,
    render_transcription,
)
from neuraldrive_audio.service.errors import ServiceError


def _session(ctx: SessionContext) -> BaseModel:
    if ctx.conversing:
        model = ctx.config.model or "gpt-realtime"
        return render_conversation(ctx.config, model, ctx.model_name(), ctx.spoken_voice())
    return render_transcription(ctx.config, ctx.model_name())


async def start(ctx: SessionContext, url_model: str | None) -> None:
    """Send ``session.created``; a model named in the URL is the conversation's model, or
    the transcription model of a transcription session."""
    error: ClientEventError | None = None
    if url_model and ctx.conversing:
        ctx.config = ctx.config.model_copy(update={"model": url_model})
    elif url_model:
        try:
            ctx.resolve_model(url_model)
            transcription = ctx.config.transcription.model_copy(update={"model": url_model})
            ctx.config = ctx.config.model_copy(update={"transcription": transcription})
        except ServiceError as exc:
            error = realtime_error(exc, "model")
    await ctx.emitter.emit(
        SessionCreatedEvent(
            type="session.created",
            event_id=new_event_id(),
            session=_session(ctx),  # type: ignore[arg-type]
        )
    )
    if error is not None:
        await ctx.emitter.client_error(error, None)


async def session_update(ctx: SessionContext, event: SessionUpdate) -> None:
    """``session.update``: a partial update (fields left out keep their values)."""
    config = apply_ga(ctx.config, event.session, ctx.limits.config)
    if config.type != ctx.config.type:
        # The type is chosen when connecting (intent=transcription or not), as OpenAI does.
        raise ClientEventError(
            f"Cannot change the session type from '{ctx.config.type}' to "
            f"'{config.type}'; connect to /v1/realtime with intent=transcription for a "
            "transcription session, without it for a conversation.",
            code="invalid_value",
            param="session.type",
        )
    if ctx.conversing:
        _check_voice(ctx, config)
    _apply(ctx, config)
    await ctx.emitter.emit(
        SessionUpdatedEvent(
            type="session.updated",
            event_id=new_event_id(),
            session=_session(ctx),  # type: ignore[arg-type]
        )
    )


async def transcription_session_update(
    ctx: SessionContext, event: TranscriptionSessionUpdate
) -> None:
    """The legacy beta ``transcription_session.update``."""
    _apply(ctx, apply_beta(ctx.config, event.session))
    session = render_beta(ctx.config, ctx.id, ctx.model_name())
    await ctx.emitter.emit(
        BetaTranscriptionSessionUpdated(
            type="transcription_session.updated", event_id=new_event_id(), session=session
        )
    )


def _check_voice(ctx: SessionContext, config: SessionConfig) -> None:
    """Refuse a voice the reply TTS model can't speak."""
    assert ctx.backend is not None
    try:
        ctx.backend.voice(config.voice, config.speed)
    except ServiceError as exc:
        raise realtime_error(exc, "session.audio.output.voice") from exc


def _apply(ctx: SessionContext, config: SessionConfig) -> None:
    try:
        ctx.resolve_model(config.transcription.model)
    except ServiceError as exc:
        raise realtime_error(exc, "session.audio.input.transcription.model") from exc
    old = ctx.config
    ctx.config = config
    if config.format is not old.format:
        # A new rate: the buffered audio can't be mixed with what comes next.
        ctx.buffer = InputAudioBuffer(config.format.sample_rate, start_ms=ctx.buffer.end_ms)
    if config.turn_detection != old.turn_detection or config.format is not old.format:
        ctx.reset_turn_detection()
