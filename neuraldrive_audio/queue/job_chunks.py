"""Chunk jobs: the batch-lane queue entries an asynchronous job is split into."""

from __future__ import annotations

import time

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from pydantic import BaseModel, Field

from neuraldrive_audio.queue import keys, wake
from neuraldrive_audio.queue.lanes import BATCH


class ChunkJob(BaseModel):
    """One piece of an asynchronous job."""

    function: str
    job_id: str
    index: int
    attempt: int = 0
    start: int = 0
    """First sample (16 kHz) of an audio chunk."""
    end: int = 0
    """Sample after the last of an audio chunk."""
    clips: list[tuple[int, int]] = Field(default_factory=list)
    """Spans of speech (samples, absolute) inside an audio chunk, one whisper window each."""
    text: str = ""
    """The text of a speech chunk."""
    avoid: list[str] = Field(default_factory=list)
    """Workers an earlier attempt failed or died on: they hand the chunk back while another
    live worker could take it, so retries don't keep landing on a broken host."""
    hops: int = 0
    """Times this attempt was handed back (part of its arq id, which must be fresh)."""

    @property
    def arq_id(self) -> str:
        """arq's id for this attempt (a retried or handed-back chunk gets a fresh one)."""
        hop = f":h{self.hops}" if self.hops else ""
        return f"{self.job_id}:c{self.index}:a{self.attempt}{hop}"

    def retry_without(self, worker_id: str) -> ChunkJob:
        """The next attempt, kept away from ``worker_id`` where possible."""
        avoid = [*self.avoid, worker_id] if worker_id not in self.avoid else self.avoid
        return self.model_copy(update={"attempt": self.attempt + 1, "avoid": avoid, "hops": 0})

    @property
    def owner_field(self) -> str:
        """Field of the job's owners hash while a worker runs this chunk."""
        return str(self.index)


class ChunkOwner(BaseModel):
    """Who runs a chunk right now, and how to enqueue it again if they die."""

    worker_id: str
    chunk: ChunkJob


async def enqueue(redis: ArqRedis, chunk: ChunkJob, defer_s: float | None = None) -> None:
    """Put a chunk on the batch lane (after ``defer_s`` seconds if given)."""
    await redis.enqueue_job(
        chunk.function,
        chunk.model_dump(mode="json"),
        _job_id=chunk.arq_id,
        _queue_name=BATCH.queue_name,
        _defer_by=defer_s,
    )
    await wake.wake(redis, BATCH)


async def owners(redis: ArqRedis, job_id: str) -> dict[str, ChunkOwner]:
    """Chunks of a job that some worker is running, by owner field."""
    raw = await redis.hgetall(keys.job_chunk_owners(job_id))  # type: ignore[misc]
    return {k.decode(): ChunkOwner.model_validate_json(v) for k, v in raw.items()}


async def abort_running(redis: ArqRedis, job_id: str) -> None:
    """Stop the chunks of an ended job that workers are running (at their next segment):
    a cancelled or failed job's remaining work is wasted."""
    running = [owner.chunk.arq_id for owner in (await owners(redis, job_id)).values()]
    if not running:
        return
    now_ms = int(time.time() * 1000)
    await redis.zadd(abort_jobs_ss, dict.fromkeys(running, now_ms))
    await wake.wake_all(redis)  # the worker running a chunk cancels it at once
