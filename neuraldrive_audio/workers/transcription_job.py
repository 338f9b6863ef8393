"""The arq function that transcribes or translates an upload."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from neuraldrive_audio.engines.base import (
    Engine,
    TranscribeOptions,
    as_speech_to_text,
)
from neuraldrive_audio.media.decode import decode_upload
from neuraldrive_audio.media.samples import FloatAudio, duration_s
from neuraldrive_audio.queue.chunk_payloads import PayloadMissingError
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.payloads import Transcript, TranscriptionJob, TranscriptSegment
from neuraldrive_audio.workers import batch_transcription
from neuraldrive_audio.workers.affinity import prefer_holder
from neuraldrive_audio.workers.job_frame import JobBody, JobInfo, JobRun, run_job
from neuraldrive_audio.workers.state import WorkerState

Infer = Callable[
    [Engine, FloatAudio, TranscribeOptions, Callable[[TranscriptSegment], None], threading.Event],
    Awaitable[Transcript],
]
"""Runs the engine on one request (in a thread): alone, or as a member of a batch."""


async def infer_alone(
    engine: Engine,
    audio: FloatAudio,
    options: TranscribeOptions,
    on_segment: Callable[[TranscriptSegment], None],
    cancel: threading.Event,
) -> Transcript:
    """Decode one request by itself."""
    stt = as_speech_to_text(engine)
    return await asyncio.to_thread(stt.transcribe, audio, options, on_segment, cancel)


def transcription_options(state: WorkerState, job: TranscriptionJob) -> TranscribeOptions:
    """The engine options of a transcription job."""
    return TranscribeOptions(
        task=job.task,
        language=job.language,
        prompt=job.prompt,
        temperature=job.temperature,
        word_timestamps=job.word_timestamps,
        logprobs=job.logprobs,
        hotwords=job.hotwords,
        languages=tuple(job.languages),
        vad_split=job.vad_split,
        batch_size=state.settings.job_batch_size if job.vad_split else 0,
    )


def transcription_body(state: WorkerState, job: TranscriptionJob, infer: Infer) -> JobBody:
    """The body of one transcription job: read and decode its upload, run ``infer``."""

    async def body(sink: EventSink, run: JobRun) -> dict[str, Any]:
        data = await state.redis.get(job.upload_key)
        if data is None:
            raise PayloadMissingError("the upload expired before a worker could read it")
        audio = await asyncio.to_thread(decode_upload, data, state.settings.max_audio_duration_s)
        manifest = state.store.get(job.model_id)
        options = transcription_options(state, job)
        total_s = duration_s(audio)

        def on_segment(segment: TranscriptSegment) -> None:
            sink.emit_threadsafe(JobEvent(EventType.SEGMENT, segment.model_dump()))
            progress = min(segment.end / total_s, 1.0) if total_s else 1.0
            sink.emit_threadsafe(JobEvent(EventType.PROGRESS, {"progress": progress}))
            state.set_progress(job.job_id, progress)

        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            transcript = await infer(engine, audio, options, on_segment, run.cancel)
            state.stats.record_inference(manifest.engine, total_s, time.perf_counter() - started)
        await state.redis.delete(job.upload_key)
        return {"transcript": transcript.model_dump()}

    return body


async def transcribe(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: run one transcription job, reporting through its event stream; with
    compatible requests waiting on the interactive lane, run them with it as one batch."""
    state: WorkerState = ctx["state"]
    job = TranscriptionJob.model_validate(payload)
    info = JobInfo.from_ctx(ctx, job.job_id, job.task.value, job.model_id)
    await prefer_holder(ctx, job.model_id)
    peers = await batch_transcription.claim_peers(ctx, job)
    if peers:
        await batch_transcription.run_batch(ctx, info, job, peers, transcription_body)
        return
    await run_job(state, info, transcription_body(state, job, infer_alone))
