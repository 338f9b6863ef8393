"""Service-wide figures kept in Redis: recently finished jobs, recent errors and histograms."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from neuraldrive_audio.queue import keys

WINDOW_S = 300
"""Finished jobs older than this drop out of jobs/min and latency percentiles."""

MAX_ERRORS = 20

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
"""Upper bounds of the job latency histogram (queue wait + run time), in seconds."""

RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
"""Upper bounds of the real-time factor histogram (inference time / audio time)."""

INF = "+Inf"


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts of one labelled series (``buckets`` ends with ``+Inf``)."""

    buckets: list[tuple[str, int]]
    total: float


def _observe(pipe: Pipeline, key: str, label: str, bounds: tuple[float, ...], value: float) -> None:
    # Buckets are stored cumulatively, so reading them needs no sorting or summing.
    for bound in bounds:
        if value <= bound:
            pipe.hincrby(key, f"{label}|{bound}", 1)
    pipe.hincrby(key, f"{label}|{INF}", 1)
    pipe.hincrbyfloat(key, f"{label}|sum", value)


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
        _observe(pipe, keys.STATS_LATENCY_HISTOGRAM, task, LATENCY_BUCKETS_S, latency_s)
        await pipe.execute()


async def record_real_time_factors(redis: Redis, observations: list[tuple[str, float]]) -> None:
    """Add ``(engine, real-time factor)`` observations of single inferences to the histogram."""
    if not observations:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for engine, rtf in observations:
            _observe(pipe, keys.STATS_RTF_HISTOGRAM, engine, RTF_BUCKETS, rtf)
        await pipe.execute()


async def histograms(redis: Redis, key: str, bounds: tuple[float, ...]) -> dict[str, Histogram]:
    """Every labelled series of one histogram hash."""
    raw: dict[bytes, bytes] = await redis.hgetall(key)  # type: ignore[misc]
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    labels = {name.rsplit("|", 1)[0] for name in fields}
    result = {}
    for label in sorted(labels):
        edges = [*(str(b) for b in bounds), INF]
        counts = [(edge, int(fields.get(f"{label}|{edge}", 0))) for edge in edges]
        result[label] = Histogram(counts, float(fields.get(f"{label}|sum", 0.0)))
    return result


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


async def record_front_door_request(redis: Redis, door: str, kind: str, outcome: str) -> None:
    """Count one request a front door answered (``outcome``: ``ok`` or an error code)."""
    await redis.hincrby(keys.STATS_FRONT_DOOR_REQUESTS, f"{door}|{kind}|{outcome}", 1)  # type: ignore[misc]


async def front_door_requests(redis: Redis) -> dict[str, dict[str, dict[str, int]]]:
    """Counts by front door, then request kind, then outcome."""
    raw: dict[bytes, bytes] = await redis.hgetall(keys.STATS_FRONT_DOOR_REQUESTS)  # type: ignore[misc]
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for field, value in raw.items():
        door, kind, outcome = field.decode().split("|", 2)
        counts.setdefault(door, {}).setdefault(kind, {})[outcome] = int(value)
    return counts
