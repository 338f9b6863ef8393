"""The arq function that transcribes or translates an upload."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from neuraldrive_audio.engines.base import TranscribeOptions, as_speech_to_text
from neuraldrive_audio.media.decode import UndecodableAudioError, decode_upload
from neuraldrive_audio.media.samples import duration_s
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.payloads import TranscriptionJob, TranscriptSegment
from neuraldrive_audio.workers.affinity import prefer_holder
from neuraldrive_audio.workers.job_frame import JobInfo, JobRun, run_job
from neuraldrive_audio.workers.state import WorkerState


async def transcribe(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: run one transcription job, reporting through its event stream."""
    state: WorkerState = ctx["state"]
    job = TranscriptionJob.model_validate(payload)

    async def body(sink: EventSink, run: JobRun) -> dict[str, Any]:
        data = await state.redis.get(job.upload_key)
        if data is None:
            raise UndecodableAudioError("the upload expired before a worker could read it")
        audio = await asyncio.to_thread(decode_upload, data, state.settings.max_audio_duration_s)
        manifest = state.store.get(job.model_id)
        options = TranscribeOptions(
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
        total_s = duration_s(audio)

        def on_segment(segment: TranscriptSegment) -> None:
            sink.emit_threadsafe(JobEvent(EventType.SEGMENT, segment.model_dump()))
            progress = min(segment.end / total_s, 1.0) if total_s else 1.0
            sink.emit_threadsafe(JobEvent(EventType.PROGRESS, {"progress": progress}))
            state.set_progress(job.job_id, progress)

        async with state.cache.use(manifest) as engine:
            started = time.perf_counter()
            transcript = await asyncio.to_thread(
                as_speech_to_text(engine).transcribe, audio, options, on_segment, run.cancel
            )
            state.stats.record_inference(manifest.engine, total_s, time.perf_counter() - started)
        await state.redis.delete(job.upload_key)
        return {"transcript": transcript.model_dump()}

    info = JobInfo.from_ctx(ctx, job.job_id, job.task.value, job.model_id)
    await prefer_holder(ctx, job.model_id)
    await run_job(state, info, body)
