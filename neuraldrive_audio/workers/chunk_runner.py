"""The frame every chunk of an asynchronous job runs in.

It skips chunks of jobs that already ended, records which worker runs the chunk (so the
API's janitor can requeue it if that worker dies), retries transient failures, fails the
whole job on permanent ones, and finishes the job when its last chunk is done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from arq.worker import Retry

from neuraldrive_audio.engines.base import JobCancelledError
from neuraldrive_audio.logs import current_job
from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.heartbeat import RunningJob
from neuraldrive_audio.queue.job_chunks import ChunkJob, ChunkOwner
from neuraldrive_audio.queue.job_records import JobNotFoundError, JobRecord, JobRecords, JobStatus
from neuraldrive_audio.workers.job_runner import job_error
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)

RETRY_DELAY_S = 2.0
ChunkBody = Callable[[JobRecord, threading.Event], Awaitable[None]]


async def announce_end(state: WorkerState, record: JobRecord) -> None:
    """Queue the webhook of a job that just ended (the API delivers it)."""
    if record.webhook_url:
        await state.redis.rpush(keys.WEBHOOKS_PENDING, record.id)  # type: ignore[misc]


async def fail_job(state: WorkerState, job_id: str, code: str, message: str) -> None:
    """Mark the whole job failed (other chunks see it and stop)."""
    record = await JobRecords(state.redis).update(
        job_id,
        status=JobStatus.FAILED,
        finished_at=time.time(),
        error={"code": code, "message": message},
    )
    log.info("job failed: %s", message, extra={"job_id": job_id})
    await announce_end(state, record)


async def complete_job(state: WorkerState, job_id: str) -> None:
    """Mark the job completed after its result was written."""
    record = await JobRecords(state.redis).update(
        job_id, status=JobStatus.COMPLETED, progress=1.0, finished_at=time.time()
    )
    log.info("job completed", extra={"job_id": job_id})
    await announce_end(state, record)


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
    current_job.set(chunk.job_id)  # arq runs each chunk in its own task
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
    state.running[chunk.arq_id] = RunningJob(
        id=chunk.job_id, task=record.task.value, model=record.model, progress=record.progress
    )
    cancel = threading.Event()
    log.info("chunk started", extra=extra)
    try:
        await body(record, cancel)
        log.info("chunk done", extra=extra)
    except (asyncio.CancelledError, JobCancelledError):
        cancel.set()
        log.info("chunk cancelled", extra=extra)
        raise
    except Exception as exc:
        await _on_failure(state, ctx, chunk, exc)
    finally:
        cancel.set()
        state.running.pop(chunk.arq_id, None)
        await asyncio.shield(_release(state, owners_key, chunk.owner_field))


async def _release(state: WorkerState, owners_key: str, field: str) -> None:
    await state.redis.hdel(owners_key, field)  # type: ignore[misc]


async def _on_failure(
    state: WorkerState, ctx: dict[str, Any], chunk: ChunkJob, exc: Exception
) -> None:
    error = job_error(exc)
    transient = error.status >= 500
    if transient and ctx.get("job_try", 1) < state.settings.job_max_tries:
        log.warning("chunk failed, retrying: %s", exc, extra={"job_id": chunk.job_id})
        raise Retry(defer=RETRY_DELAY_S) from exc
    if transient:
        log.exception("chunk failed for good", extra={"job_id": chunk.job_id})
    where = "planning" if chunk.index < 0 else f"chunk {chunk.index}"
    await fail_job(state, chunk.job_id, error.code, f"{where}: {error.message}")
