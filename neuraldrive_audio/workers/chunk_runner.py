"""Chunks of an asynchronous job, run in the job frame (``job_frame.in_frame``).

Around the frame: skip chunks of jobs that already ended or were delivered, hand back a
retry to another worker when an earlier attempt failed here, record which worker runs the
chunk (so the API's janitor can requeue it if that worker dies). On failure: retry
transient errors as a new attempt kept away from this worker, fail the whole job on
permanent ones. Results go back through Redis; the API host merges them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from neuraldrive_audio.queue import chunk_payloads, heartbeat, job_chunks, keys
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
HAND_BACK_DEFER_S = 0.5
MAX_HOPS = 5
"""Hand-backs of one attempt before a worker runs it anyway (the others may be busy)."""
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


async def deliver_chunk(state: WorkerState, chunk: ChunkJob, result: bytes) -> None:
    """Hand a chunk's result to the API through Redis; a twin attempt that was faster wins."""
    delivered = await chunk_payloads.deliver(
        state.redis, chunk.job_id, chunk.index, result, state.worker_id,
        state.settings.job_payload_ttl_s,
    )  # fmt: skip
    if not delivered:
        log.info("chunk result dropped: another attempt delivered it first",
                 extra={"job_id": chunk.job_id, "chunk": chunk.index})  # fmt: skip


async def _hand_back(state: WorkerState, chunk: ChunkJob) -> bool:
    """True if this worker gave the chunk back because an earlier attempt failed here and
    another live worker can take it (so a broken host doesn't get every retry)."""
    if state.worker_id not in chunk.avoid or chunk.hops >= MAX_HOPS:
        return False
    others = {w.worker_id for w in await heartbeat.live_workers(state.redis)}
    if not others - {state.worker_id, *chunk.avoid}:
        return False  # nobody else: better here than nowhere
    again = chunk.model_copy(update={"hops": chunk.hops + 1})
    await job_chunks.enqueue(state.redis, again, defer_s=HAND_BACK_DEFER_S)
    log.info("chunk handed back: an earlier attempt failed on this worker",
             extra={"job_id": chunk.job_id, "chunk": chunk.index})  # fmt: skip
    return True


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
    if await chunk_payloads.already_delivered(state.redis, chunk.job_id, chunk.index):
        log.info("chunk skipped: an earlier attempt delivered it", extra=extra)
        return
    if await _hand_back(state, chunk):
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
    if transient and chunk.attempt + 1 < state.settings.job_max_tries:
        log.warning("chunk failed, retrying elsewhere: %s", exc, extra={"job_id": chunk.job_id})
        again = chunk.retry_without(state.worker_id)
        await job_chunks.enqueue(state.redis, again, defer_s=RETRY_DELAY_S)
        return
    if transient:
        log.exception("chunk failed for good", extra={"job_id": chunk.job_id})
    await fail_job(state, chunk.job_id, error.code, f"chunk {chunk.index}: {error.message}")
