"""Service-wide figures kept in Redis: recently finished jobs and recent errors."""

from __future__ import annotations

import time

from pydantic import BaseModel
from redis.asyncio import Redis

from neuraldrive_audio.queue import keys

WINDOW_S = 300
"""Finished jobs older than this drop out of jobs/min and latency percentiles."""

MAX_ERRORS = 20


class RecentError(BaseModel):
    """One failed job, for operators."""

    time: float
    job_id: str
    code: str
    message: str


async def record_finished(redis: Redis, job_id: str, task: str, latency_s: float) -> None:
    """Note a finished job (queue wait + run time) and forget ones outside the window."""
    now = time.time()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.STATS_FINISHED, {f"{job_id}|{task}|{latency_s:.4f}": now})
        pipe.zremrangebyscore(keys.STATS_FINISHED, "-inf", now - WINDOW_S)
        await pipe.execute()


async def record_error(redis: Redis, error: RecentError) -> None:
    """Keep the last few errors."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(keys.STATS_ERRORS, error.model_dump_json())
        pipe.ltrim(keys.STATS_ERRORS, 0, MAX_ERRORS - 1)
        await pipe.execute()


async def recent_latencies(redis: Redis) -> list[float]:
    """Latencies (s) of jobs finished within the window."""
    members = await redis.zrangebyscore(keys.STATS_FINISHED, time.time() - WINDOW_S, "+inf")
    return [float(m.decode().rsplit("|", 1)[1]) for m in members]


async def recent_errors(redis: Redis) -> list[RecentError]:
    """The last errors, newest first."""
    raw = await redis.lrange(keys.STATS_ERRORS, 0, MAX_ERRORS - 1)  # type: ignore[misc]
    return [RecentError.model_validate_json(r) for r in raw]
