"""Asynchronous speech for long texts: chunks of sentences, then one encoded file."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from neuraldrive_audio.engines.base import TextToSpeech, as_text_to_speech
from neuraldrive_audio.media.encode import make_encoder
from neuraldrive_audio.media.formats import SpeechFormat
from neuraldrive_audio.media.resample import OUTPUT_SAMPLE_RATE
from neuraldrive_audio.media.samples import S16LE, from_s16le, to_s16le
from neuraldrive_audio.media.text import speakable
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord, JobRecords, JobStatus
from neuraldrive_audio.storage.job_files import JobFiles
from neuraldrive_audio.workers.chunk_runner import deliver_chunk, run_chunk
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.speech_job import spoken_sentences
from neuraldrive_audio.workers.state import WorkerState

ENCODE_BLOCK_SAMPLES = OUTPUT_SAMPLE_RATE * 10


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


def _encode_result(files: JobFiles, job_id: str, fmt: SpeechFormat) -> None:
    """Concatenate the chunks' PCM in order and encode it once into result.<format>."""
    encoder = make_encoder(fmt, OUTPUT_SAMPLE_RATE)
    with files.atomic_output(files.result(job_id, fmt.value)) as out:
        for part in sorted((files.dir(job_id) / "chunks").glob("*.s16")):
            samples = np.fromfile(part, dtype=S16LE)
            for start in range(0, len(samples), ENCODE_BLOCK_SAMPLES):
                out.write(encoder.encode(from_s16le(samples[start : start + ENCODE_BLOCK_SAMPLES])))
        out.write(encoder.finish())


async def speak_chunk(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: speak one chunk of a long text; the last one encodes the result."""
    state: WorkerState = ctx["state"]
    chunk = ChunkJob.model_validate(payload)
    files = state.job_files

    async def body(record: JobRecord, run: JobRun) -> None:
        if record.status is JobStatus.QUEUED:
            await JobRecords(state.redis).update(
                record.id, status=JobStatus.PROCESSING, started_at=time.time()
            )
        voice, speed = str(record.options["voice"]), float(record.options.get("speed", 1.0))
        manifest = state.store.get(record.model)
        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            pcm = await asyncio.to_thread(
                _speak_chunk, as_text_to_speech(engine), chunk.text, voice, speed, run
            )
            seconds = len(pcm) / 2 / OUTPUT_SAMPLE_RATE
            state.stats.record_inference(manifest.engine, seconds, time.perf_counter() - started)
        await deliver_chunk(
            state, record, files.chunk(record.id, chunk.index, "s16"), pcm,
            lambda: _encode_result(files, record.id, SpeechFormat(record.response_format)),
        )  # fmt: skip

    await run_chunk(ctx, chunk, body)
