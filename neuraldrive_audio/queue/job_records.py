"""Asynchronous jobs as records in Redis: their state survives API and worker restarts."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import WatchError

from neuraldrive_audio.queue import keys


class JobStatus(StrEnum):
    """Life of an asynchronous job."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True once the job can change no more."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobTask(StrEnum):
    """What an asynchronous job does."""

    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"
    SPEECH = "speech"


class WebhookOutcome(BaseModel):
    """What happened when we told the caller that the job ended."""

    delivered: bool = False
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    finished_at: float | None = None


class JobRecord(BaseModel):
    """The job object the API returns."""

    id: str
    object: str = "audio.job"
    task: JobTask
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    model: str
    response_format: str
    options: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: dict[str, str] | None = None
    input_duration: float | None = None
    input_characters: int | None = None
    chunks_total: int = 0
    chunks_done: int = 0
    chunk_workers: dict[str, str] = Field(default_factory=dict)
    """Chunk index -> the worker whose result counted (several hosts may share a job)."""
    webhook_url: str | None = None
    webhook: WebhookOutcome | None = None


class JobNotFoundError(LookupError):
    """No job with that id."""


class JobRecords:
    """Reads and writes job records; updates are optimistic transactions (WATCH)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, record: JobRecord) -> None:
        """Store a new job and index it by creation time."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.job(record.id), record.model_dump_json())
            pipe.zadd(keys.JOBS, {record.id: record.created_at})
            pipe.sadd(keys.JOBS_ACTIVE, record.id)
            await pipe.execute()

    async def get(self, job_id: str) -> JobRecord:
        """The record, or JobNotFoundError."""
        raw = await self.redis.get(keys.job(job_id))
        if raw is None:
            raise JobNotFoundError(job_id)
        return JobRecord.model_validate_json(raw)

    async def update(
        self, job_id: str, *, allow_after_final: bool = False, **changes: Any
    ) -> JobRecord:
        """Apply ``changes`` atomically; a finished job keeps its final state unless allowed."""
        key = keys.job(job_id)
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise JobNotFoundError(job_id)
                    record = JobRecord.model_validate_json(raw)
                    if record.status.is_final and not allow_after_final:
                        return record
                    record = record.model_copy(update=changes)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, record.model_dump_json())
                    if record.status.is_final:
                        pipe.srem(keys.JOBS_ACTIVE, job_id)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue

    async def delete(self, job_id: str) -> None:
        """Forget a job entirely."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                keys.job(job_id), keys.job_chunk_owners(job_id),
                keys.job_chunk_results(job_id), keys.job_chunk_workers(job_id),
                keys.job_chunks_fed(job_id),
            )  # fmt: skip
            pipe.zrem(keys.JOBS, job_id)
            pipe.srem(keys.JOBS_ACTIVE, job_id)
            await pipe.execute()

    async def active_ids(self) -> list[str]:
        """Jobs not yet completed, failed or cancelled."""
        members: set[bytes] = await self.redis.smembers(keys.JOBS_ACTIVE)  # type: ignore[misc]
        return sorted(m.decode() for m in members)

    async def ids_created_before(self, timestamp: float) -> list[str]:
        """Jobs created before ``timestamp`` (retention candidates)."""
        return [i.decode() for i in await self.redis.zrangebyscore(keys.JOBS, "-inf", timestamp)]

    async def first_created_after(self, timestamp: float) -> float | None:
        """Creation time of the oldest job created after ``timestamp``, if any."""
        first = await self.redis.zrangebyscore(
            keys.JOBS, f"({timestamp}", "+inf", start=0, num=1, withscores=True
        )
        return float(first[0][1]) if first else None

    async def list(
        self, status: JobStatus | None = None, limit: int = 20, after: str | None = None
    ) -> list[JobRecord]:
        """Newest first; ``after`` is the id of the last job of the previous page."""
        top = "+inf"
        if after is not None:
            score = await self.redis.zscore(keys.JOBS, after)
            if score is None:
                raise JobNotFoundError(after)
            top = f"({score}"
        records: list[JobRecord] = []
        offset = 0
        while len(records) < limit:
            ids = await self.redis.zrevrangebyscore(keys.JOBS, top, "-inf", start=offset, num=100)
            if not ids:
                break
            offset += len(ids)
            for raw in await self.redis.mget([keys.job(i.decode()) for i in ids]):
                if raw is None:
                    continue
                record = JobRecord.model_validate_json(raw)
                if status is None or record.status is status:
                    records.append(record)
        return records[:limit]


async def announce_end(redis: Redis, record: JobRecord) -> None:
    """Queue the webhook of a job that just ended (the API's janitor delivers it)."""
    if record.webhook_url:
        await redis.rpush(keys.WEBHOOKS_PENDING, record.id)  # type: ignore[misc]
