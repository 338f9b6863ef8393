"""Asynchronous transcription: plan (decode + split at silences), chunks, merge."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text
from neuraldrive_audio.media.decode import decode_to_file
from neuraldrive_audio.media.samples import S16LE, WHISPER_SAMPLE_RATE, from_s16le
from neuraldrive_audio.media.split import plan_chunks
from neuraldrive_audio.queue import job_chunks, keys
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord, JobRecords, JobStatus
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionTask, TranscriptSegment
from neuraldrive_audio.storage.job_files import JobFiles
from neuraldrive_audio.workers.chunk_runner import complete_job, deliver_chunk, run_chunk
from neuraldrive_audio.workers.job_frame import JobRun
from neuraldrive_audio.workers.state import WorkerState


async def plan_transcription(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: decode the upload, cut it at silences, queue one chunk per piece."""
    state: WorkerState = ctx["state"]
    plan = ChunkJob.model_validate(payload)
    files = state.job_files

    async def body(record: JobRecord, run: JobRun) -> None:
        records = JobRecords(state.redis)
        await records.update(record.id, status=JobStatus.PROCESSING, started_at=time.time())
        settings = state.settings
        # Decoded straight to disk as int16 (half of float32) and planned window by window:
        # worker memory is bounded by a block, not by the file's length.
        total = await asyncio.to_thread(
            _decode_samples, files, record.id, settings.max_job_audio_duration_s
        )
        planned = await asyncio.to_thread(
            plan_chunks, files.samples(record.id), settings.job_chunk_target_s,
            settings.job_batch_size,
        )  # fmt: skip
        duration = round(total / WHISPER_SAMPLE_RATE, 3)
        await records.update(record.id, input_duration=duration, chunks_total=len(planned))
        if not planned:  # no speech at all: an empty transcript
            await asyncio.to_thread(_merge, files, record, duration)
            await complete_job(state, record.id)
        for index, part in enumerate(planned):
            chunk = ChunkJob(
                function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id=record.id, index=index,
                start=part.start, end=part.end, clips=part.clips,
            )  # fmt: skip
            await job_chunks.enqueue(state.redis, chunk)

    await run_chunk(ctx, plan, body)


def _decode_samples(files: JobFiles, job_id: str, max_duration_s: float) -> int:
    with files.atomic_output(files.samples(job_id)) as out:
        return decode_to_file(files.input(job_id), out, max_duration_s)


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
    """arq entry point: transcribe one chunk; the last one merges the job's result."""
    state: WorkerState = ctx["state"]
    chunk = ChunkJob.model_validate(payload)
    files = state.job_files

    async def body(record: JobRecord, run: JobRun) -> None:
        samples = np.memmap(files.samples(record.id), dtype=S16LE, mode="r")
        audio = from_s16le(samples[chunk.start : chunk.end])
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
        path = files.chunk(record.id, chunk.index, "json")
        await deliver_chunk(
            state, record, path, shifted.model_dump_json().encode(),
            lambda: _merge(files, record, record.input_duration),
        )  # fmt: skip

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


def _merge(files: JobFiles, record: JobRecord, duration: float | None) -> None:
    """Join the chunk transcripts in order into result.json with global segment ids."""
    parts = [
        Transcript.model_validate_json(p.read_text())
        for p in sorted((files.dir(record.id) / "chunks").glob("*.json"))
    ]
    segments = [s for part in parts for s in part.segments]
    segments = [s.model_copy(update={"id": i}) for i, s in enumerate(segments)]
    merged = Transcript(
        task=TranscriptionTask(record.task.value),
        language=parts[0].language if parts else "en",
        duration=duration or 0.0,
        text=" ".join(p.text for p in parts if p.text).strip(),
        segments=segments,
    )
    files.write_atomic(files.result(record.id, "json"), merged.model_dump_json().encode())
    files.samples(record.id).unlink(missing_ok=True)  # only the chunks needed it
