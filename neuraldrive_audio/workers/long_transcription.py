"""Chunks of asynchronous transcriptions: audio in from Redis, a transcript back to it.

The API host plans the job (decode, split at silences) and merges the chunks
(``api.background.job_feeder``); a worker here needs nothing but Redis and its model store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text
from neuraldrive_audio.media.samples import S16LE, WHISPER_SAMPLE_RATE, from_s16le
from neuraldrive_audio.queue import chunk_payloads
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask, TranscriptSegment
from neuraldrive_audio.workers.chunk_runner import deliver_chunk, run_chunk
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.state import WorkerState


def _options(record: JobRecord, chunk: ChunkJob, batch_size: int) -> TranscribeOptions:
    opts = record.options
    rate = WHISPER_SAMPLE_RATE
    clips = tuple(((a - chunk.start) / rate, (b - chunk.start) / rate) for a, b in chunk.clips)
    return TranscribeOptions(
        task=TranscriptionTask(record.task.value),
        language=opts.get("language"),
        prompt=opts.get("prompt"),
        temperature=float(opts.get("temperature", 0.0)),
        word_timestamps="word" in opts.get("timestamp_granularities", []),
        batch_size=batch_size,
        clips=clips,
    )


async def transcribe_chunk(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: transcribe one chunk and hand its transcript back."""
    state: WorkerState = ctx["state"]
    chunk = ChunkJob.model_validate(payload)

    async def body(record: JobRecord, run: JobRun) -> None:
        data = await chunk_payloads.chunk_input(state.redis, record.id, chunk.index)
        audio = from_s16le(np.frombuffer(data, dtype=S16LE))
        options = _options(record, chunk, state.settings.job_batch_size)

        def between_segments(segment: TranscriptSegment) -> None:
            run.checkpoint()  # higher lanes (interactive requests) go first

        manifest = state.store.get(record.model)
        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            transcript = await asyncio.to_thread(
                as_speech_to_text(engine).transcribe, audio, options, between_segments, run.cancel
            )
            state.stats.record_inference(
                manifest.engine, transcript.duration, time.perf_counter() - started
            )
        shifted = _shift(transcript, chunk.start / WHISPER_SAMPLE_RATE)
        await deliver_chunk(state, chunk, shifted.model_dump_json().encode())

    await run_chunk(ctx, chunk, body)


def _shift(transcript: Transcript, offset_s: float) -> Transcript:
    """Move a chunk's timestamps to the position of the chunk in the whole file."""
    frames = round(offset_s * 100)  # whisper's seek counts 10 ms frames
    segments = []
    for s in transcript.segments:
        words = None
        if s.words is not None:
            words = [
                w.model_copy(
                    update={
                        "start": round(w.start + offset_s, 3),
                        "end": round(w.end + offset_s, 3),
                    }
                )
                for w in s.words
            ]
        segments.append(
            s.model_copy(
                update={
                    "start": round(s.start + offset_s, 3),
                    "end": round(s.end + offset_s, 3),
                    "seek": s.seek + frames,
                    "words": words,
                }
            )
        )
    return transcript.model_copy(update={"segments": segments})
