"""Handlers of the input audio buffer (``input_audio_buffer.append`` / ``.commit`` /
``.clear``) and of the VAD's turn decisions on the appended audio."""

from __future__ import annotations

import asyncio
import logging

from openai.types.realtime import (
    InputAudioBufferClearedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
)

from neuraldrive_audio.api.realtime.client_events import (
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
)
from neuraldrive_audio.api.realtime.context import SessionContext
from neuraldrive_audio.api.realtime.input_buffer import decode_input
from neuraldrive_audio.api.realtime.protocol import (
    ClientEventError,
    decode_audio,
    new_event_id,
    new_item_id,
)
from neuraldrive_audio.media.vad import TurnEvent, TurnEventKind

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
"""Shortest buffer a commit accepts (OpenAI's rule)."""

IDLE_KEEP_MS = 500
"""With server VAD and no speech, audio older than the prefix padding plus this is dropped."""


async def append(ctx: SessionContext, event: InputAudioBufferAppend) -> None:
    """Buffer the audio; with server VAD, act on the turn decisions it leads to."""
    samples = decode_input(decode_audio(event.audio), ctx.config.format)
    ctx.buffer.append(samples)
    driver = ctx.driver
    if driver is not None:
        for decision in await asyncio.to_thread(driver.process, samples):
            await _on_turn_event(ctx, decision)
        ctx.follow_pause()
        if not driver.in_speech:
            padding = driver.settings.prefix_padding_ms
            ctx.buffer.drop_before(ctx.buffer.end_ms - padding - IDLE_KEEP_MS)
    if ctx.buffer.length_ms >= ctx.limits.max_buffer_ms:
        # Bounded memory without losing speech: a turn this long is committed as it is.
        log.info("realtime buffer reached %d ms; committing it", ctx.buffer.length_ms)
        await ctx.commit_turn(None, ctx.speech_item_id or new_item_id())
        ctx.reset_turn_detection()


async def _on_turn_event(ctx: SessionContext, decision: TurnEvent) -> None:
    detection = ctx.config.turn_detection
    if decision.kind is TurnEventKind.SPEECH_STARTED:
        ctx.speech_item_id = new_item_id()
        ctx.buffer.drop_before(decision.audio_ms)
        await ctx.emitter.emit(
            InputAudioBufferSpeechStartedEvent(
                type="input_audio_buffer.speech_started",
                event_id=new_event_id(),
                audio_start_ms=decision.audio_ms,
                item_id=ctx.speech_item_id,
            )
        )
        if ctx.responder is not None and detection is not None and detection.interrupts_response:
            await ctx.responder.cancel("turn_detected")  # barge-in
        return
    item_id = ctx.speech_item_id or new_item_id()
    ctx.speech_item_id = None
    await ctx.emitter.emit(
        InputAudioBufferSpeechStoppedEvent(
            type="input_audio_buffer.speech_stopped",
            event_id=new_event_id(),
            audio_end_ms=decision.audio_ms,
            item_id=item_id,
        )
    )
    if detection is not None and detection.creates_response:
        ctx.auto_respond.add(item_id)
    await ctx.commit_turn(decision.audio_ms, item_id)


async def commit(ctx: SessionContext, event: InputAudioBufferCommit) -> None:
    """Commit the buffer as a user turn (OpenAI refuses under 100 ms of audio)."""
    in_speech = ctx.driver is not None and ctx.driver.in_speech
    nothing_said = ctx.driver is not None and not in_speech
    if nothing_said or ctx.buffer.length_ms < MIN_COMMIT_MS:
        held = 0 if nothing_said else ctx.buffer.length_ms
        raise ClientEventError(
            "Error committing input audio buffer: buffer too small. Expected at least "
            f"{MIN_COMMIT_MS}ms of audio, but buffer only has {held}ms of audio.",
            code="input_audio_buffer_commit_empty",
        )
    await ctx.commit_turn(None, ctx.speech_item_id or new_item_id())
    if in_speech:
        ctx.reset_turn_detection()


async def clear(ctx: SessionContext, event: InputAudioBufferClear) -> None:
    """Drop the buffered audio."""
    ctx.buffer.clear()
    ctx.reset_turn_detection()
    await ctx.emitter.emit(
        InputAudioBufferClearedEvent(type="input_audio_buffer.cleared", event_id=new_event_id())
    )
