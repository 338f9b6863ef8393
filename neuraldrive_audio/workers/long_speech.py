"""Chunks of asynchronous speech jobs: text in, 24 kHz PCM back through Redis (the API
host encodes the whole result once every chunk is in)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.media.samples import to_s16le
from neuraldrive_audio.media.text import speakable
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord
from neuraldrive_audio.workers.chunk_runner import deliver_chunk, run_chunk
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.speech_job import spoken_sentences
from neuraldrive_audio.workers.state import WorkerState


def _speak_chunk(
    engine: TextToSpeech,
    text: str,
    voice: str,
    speed: float,
    run: JobRun,
) -> bytes:
    """Blocking: the chunk's speech as 24 kHz s16le, yielding to higher lanes per sentence."""
    pieces = spoken_sentences(engine, speakable(text), voice, speed, run.checkpoint)
    return to_s16le(np.concatenate(list(pieces)))


async def speak_chunk(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: speak one chunk of a long text and hand its PCM back."""
    state: WorkerState = ctx["state"]
    chunk = ChunkJob.model_validate(payload)

    async def body(record: JobRecord, run: JobRun) -> None:
        voice, speed = str(record.options["voice"]), float(record.options.get("speed", 1.0))
        manifest = state.store.get(record.model)
        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            pcm = await asyncio.to_thread(
                _speak_chunk, as_text_to_speech(engine), chunk.text, voice, speed, run
            )
            seconds = len(pcm) / 2 / OUTPUT_SAMPLE_RATE
            state.stats.record_inference(manifest.engine, seconds, time.perf_counter() - started)
        await deliver_chunk(state, chunk, pcm)

    await run_chunk(ctx, chunk, body)
