"""Chunk jobs: the batch-lane queue entries an asynchronous job is split into."""

from __future__ import annotations

from arq.connections import ArqRedis
from pydantic import BaseModel, Field

from neuraldrive_audio.queue import keys, wake
from neuraldrive_audio.queue.lanes import BATCH

PLAN = -1
"""Index of the planning step (decode and split) of a transcription job."""


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

    @property
    def arq_id(self) -> str:
        """arq's id for this attempt (a retried chunk gets a fresh one)."""
        return f"{self.job_id}:c{self.index}:a{self.attempt}"

    @property
    def owner_field(self) -> str:
        """Field of the job's owners hash while a worker runs this chunk."""
        return "plan" if self.index == PLAN else str(self.index)


class ChunkOwner(BaseModel):
    """Who runs a chunk right now, and how to enqueue it again if they die."""

    worker_id: str
    chunk: ChunkJob


async def enqueue(redis: ArqRedis, chunk: ChunkJob) -> None:
    """Put a chunk on the batch lane."""
    await redis.enqueue_job(
        chunk.function,
        chunk.model_dump(mode="json"),
        _job_id=chunk.arq_id,
        _queue_name=BATCH.queue_name,
    )
    await wake.wake(redis, BATCH)


async def owners(redis: ArqRedis, job_id: str) -> dict[str, ChunkOwner]:
    """Chunks of a job that some worker is running, by owner field."""
    raw = await redis.hgetall(keys.job_chunk_owners(job_id))  # type: ignore[misc]
    return {k.decode(): ChunkOwner.model_validate_json(v) for k, v in raw.items()}
