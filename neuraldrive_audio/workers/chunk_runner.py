"""Chunks of an asynchronous job, run in the job frame (``job_frame.in_frame``).

Around the frame: skip chunks of jobs that already ended, record which worker runs the
chunk (so the API's janitor can requeue it if that worker dies). On failure: retry
transient errors, fail the whole job on permanent ones. The last chunk finishes the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.worker import Retry

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.job_chunks import ChunkJob, ChunkOwner
from neuraldrive_audio.queue.job_records import (
    JobNotFoundError,
    JobRecord,
    JobRecords,
    JobStatus,
    announce_end,
)
from neuraldrive_audio.queue.payloads import JobError
from neuraldrive_audio.workers.job_frame import JobInfo, JobRun, in_frame
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)

RETRY_DELAY_S = 2.0
ChunkBody = Callable[[JobRecord, JobRun], Awaitable[None]]


async def fail_job(state: WorkerState, job_id: str, code: str, message: str) -> None:
    """Mark the whole job failed (other chunks see it and stop)."""
    record = await JobRecords(state.redis).update(
        job_id,
        status=JobStatus.FAILED,
        finished_at=time.time(),
        error={"code": code, "message": message},
    )
    log.info("job failed: %s", message, extra={"job_id": job_id})
    await announce_end(state.redis, record)


async def complete_job(state: WorkerState, job_id: str) -> None:
    """Mark the job completed after its result was written."""
    record = await JobRecords(state.redis).update(
        job_id, status=JobStatus.COMPLETED, progress=1.0, finished_at=time.time()
    )
    log.info("job completed", extra={"job_id": job_id})
    await announce_end(state.redis, record)


async def deliver_chunk(
    state: WorkerState, record: JobRecord, path: Path, data: bytes, merge: Callable[[], None]
) -> None:
    """Store a chunk's result once; the job's last chunk runs ``merge`` (blocking, in a
    thread) to build the whole result, then completes the job."""
    if not state.job_files.claim(path, data):
        return  # another attempt of this chunk got there first
    if await count_chunk(state, record):
        await asyncio.to_thread(merge)
        await complete_job(state, record.id)


async def count_chunk(state: WorkerState, record: JobRecord) -> bool:
    """Count a finished chunk and update progress; True when it was the last one."""
    records = JobRecords(state.redis)
    done = await records.chunk_finished(record.id)
    total = max(record.chunks_total, 1)
    await records.update(record.id, chunks_done=done, progress=round(min(done / total, 1.0), 4))
    return done >= total


async def run_chunk(ctx: dict[str, Any], chunk: ChunkJob, body: ChunkBody) -> None:
    """Run one chunk of an asynchronous job inside the frame described above."""
    state: WorkerState = ctx["state"]
    extra = {"job_id": chunk.job_id, "chunk": chunk.index, "worker_id": state.worker_id}
    try:
        record = await JobRecords(state.redis).get(chunk.job_id)
    except JobNotFoundError:
        return  # deleted meanwhile
    if record.status.is_final:
        log.info("chunk skipped: job already %s", record.status.value, extra=extra)
        return
    owner = ChunkOwner(worker_id=state.worker_id, chunk=chunk)
    owners_key = keys.job_chunk_owners(chunk.job_id)
    await state.redis.hset(owners_key, chunk.owner_field, owner.model_dump_json())  # type: ignore[misc]
    info = JobInfo.from_ctx(
        ctx, chunk.job_id, record.task.value, record.model,
        running_key=chunk.arq_id, progress=record.progress,
    )  # fmt: skip

    async def on_error(exc: Exception, error: JobError) -> None:
        await _on_failure(state, ctx, chunk, exc, error)

    try:
        await in_frame(state, info, lambda run: body(record, run), on_error, {"chunk": chunk.index})
    finally:
        await asyncio.shield(_release(state, owners_key, chunk.owner_field))


async def _release(state: WorkerState, owners_key: str, field: str) -> None:
    await state.redis.hdel(owners_key, field)  # type: ignore[misc]


async def _on_failure(
    state: WorkerState, ctx: dict[str, Any], chunk: ChunkJob, exc: Exception, error: JobError
) -> None:
    transient = error.status >= 500
    if transient and ctx.get("job_try", 1) < state.settings.job_max_tries:
        log.warning("chunk failed, retrying: %s", exc, extra={"job_id": chunk.job_id})
        raise Retry(defer=RETRY_DELAY_S) from exc
    if transient:
        log.exception("chunk failed for good", extra={"job_id": chunk.job_id})
    where = "planning" if chunk.index < 0 else f"chunk {chunk.index}"
    await fail_job(state, chunk.job_id, error.code, f"{where}: {error.message}")
