"""Handlers of ``response.create`` / ``.cancel`` and ``output_audio_buffer.clear``, and the
automatic response to a turn the VAD committed."""

from __future__ import annotations

from typing import Any

from openai.types.realtime.realtime_server_event import OutputAudioBufferCleared

from neuraldrive_audio.api.realtime.client_events import (
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
)
from neuraldrive_audio.api.realtime.context import SessionContext
from neuraldrive_audio.api.realtime.protocol import ClientEventError, new_event_id, realtime_error
from neuraldrive_audio.api.realtime.responder import Responder, ResponseSettings
from neuraldrive_audio.api.realtime.session_config import (
    Modality,
    ga_format,
    read_instructions,
    voice_name,
)
from neuraldrive_audio.api.realtime.tools import read_tool_choice, read_tools
from neuraldrive_audio.service.errors import ServiceError
from neuraldrive_audio.service.reply import ReplyVoice


def _responder(ctx: SessionContext) -> Responder:
    assert ctx.responder is not None  # the table routes these to conversation sessions only
    return ctx.responder


def _voice(ctx: SessionContext, name: str, param: str) -> ReplyVoice:
    assert ctx.backend is not None
    try:
        return ctx.backend.voice(name, ctx.config.speed)
    except ServiceError as exc:
        raise realtime_error(exc, param) from exc


def _modality(ctx: SessionContext, wanted: object) -> Modality:
    if wanted is None:
        return ctx.config.output_modalities[0]
    if not isinstance(wanted, list) or not wanted or not set(wanted) <= {"text", "audio"}:
        raise ClientEventError(
            '\'response.output_modalities\' must be ["audio"] or ["text"].',
            param="response.output_modalities",
        )
    return "audio" if "audio" in wanted else "text"


def settings(ctx: SessionContext, params: dict[str, Any]) -> ResponseSettings:
    """The session's configuration, overridden by a ``response.create``'s ``response``."""
    assert ctx.backend is not None
    config, limits = ctx.config, ctx.limits.config
    if params.get("input") is not None:
        raise ClientEventError(
            "'response.input' is not supported; the response reads the conversation.",
            code="unsupported",
            param="response.input",
        )
    output = (params.get("audio") or {}).get("output") or {}
    fmt = config.output_format
    if output.get("format") is not None:
        fmt = ga_format(output["format"], "response.audio.output.format")
    client_voice = config.voice
    if output.get("voice") is not None:
        client_voice = voice_name(output["voice"], "response.audio.output.voice")
    max_tokens = params.get("max_output_tokens", config.max_output_tokens)
    instructions = config.instructions
    if "instructions" in params:
        instructions = read_instructions(params["instructions"], "response.instructions", limits)
    tools = config.tools
    if params.get("tools") is not None:
        tools = read_tools(
            params["tools"], "response.tools", limits.max_tools, limits.max_tools_bytes
        )
    tool_choice = config.tool_choice
    if params.get("tool_choice") is not None:
        tool_choice = read_tool_choice(params["tool_choice"], "response.tool_choice")
    metadata = params.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        raise ClientEventError(
            "Invalid type for 'response.metadata': expected an object of strings.",
            code="invalid_type",
            param="response.metadata",
        )
    return ResponseSettings(
        model=ctx.backend.llm_model(config.model),
        instructions=instructions,
        modality=_modality(ctx, params.get("output_modalities")),
        output_format=fmt,
        voice=_voice(ctx, client_voice, "response.audio.output.voice"),
        options={"max_tokens": max_tokens} if isinstance(max_tokens, int) else {},
        max_output_tokens=max_tokens,
        metadata=metadata,
        in_conversation=params.get("conversation", "auto") != "none",
        tools=tools,
        tool_choice=tool_choice,
    )


async def create(ctx: SessionContext, event: ResponseCreate) -> None:
    """Start a response (OpenAI's error while another one is active)."""
    params = event.response or {}
    _responder(ctx).start(settings(ctx, params))


async def cancel(ctx: SessionContext, event: ResponseCancel) -> None:
    """Cancel the active response (``response.done`` with status ``cancelled`` follows)."""
    responder = _responder(ctx)
    active = responder.active_id
    if active is None or (event.response_id is not None and event.response_id != active):
        raise ClientEventError(
            "Cancellation failed: no active response found.",
            code="response_cancel_not_active",
        )
    await responder.cancel("client_cancelled")


async def clear_output_audio(ctx: SessionContext, event: OutputAudioBufferClear) -> None:
    """Cut off the audio of the current response. Over WebSocket the client holds the
    audio it was sent, so what remains here is to stop sending: a response still speaking
    is cancelled (as barge-in would), then ``output_audio_buffer.cleared`` names it."""
    responder = _responder(ctx)
    response_id = responder.active_id or responder.last_id
    if response_id is None:
        raise ClientEventError(
            "Cannot clear the output audio buffer: no response has produced audio.",
            code="output_audio_buffer_empty",
        )
    await responder.cancel("client_cancelled")
    await ctx.emitter.emit(
        OutputAudioBufferCleared(
            type="output_audio_buffer.cleared", event_id=new_event_id(), response_id=response_id
        )
    )


async def respond_to_turn(ctx: SessionContext) -> None:
    """A turn the VAD committed was transcribed: answer it (after the response in
    progress, when speech did not interrupt it)."""
    responder = _responder(ctx)
    try:
        chosen = settings(ctx, {})
        await responder.wait()
        responder.start(chosen)
    except ClientEventError as exc:  # e.g. a response.create got in first
        await ctx.emitter.client_error(exc, None)
