"""Worker heartbeats: each worker refreshes a short-lived key describing itself."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from neuraldrive_audio.queue import keys


class LoadedModelInfo(BaseModel):
    """A model resident in a worker's cache."""

    id: str
    engine: str
    bytes: int = Field(description="Memory cost measured when it was loaded.")
    pinned: bool = False
    in_use: int = 0
    last_used: float
    idle_until: float | None = Field(default=None, description="When the idle TTL unloads it.")


class RunningJob(BaseModel):
    """A job a worker is running right now."""

    id: str
    task: str
    model: str
    progress: float = 0.0
    started_at: float = Field(default_factory=time.time)


class WorkerHeartbeat(BaseModel):
    """What a worker publishes about itself every heartbeat."""

    worker_id: str
    hostname: str
    pid: int
    device: str
    started_at: float
    last_seen: float = Field(default_factory=time.time)
    budget_bytes: int = 0
    used_bytes: int = 0
    loaded_models: list[LoadedModelInfo] = Field(default_factory=list)
    jobs_in_progress: int = 0
    current_jobs: list[RunningJob] = Field(default_factory=list)
    jobs_done: int = 0
    jobs_failed: int = 0
    loads: int = 0
    evictions: int = 0
    audio_seconds: dict[str, float] = Field(
        default_factory=dict, description="Seconds of audio processed, per engine."
    )
    busy_seconds: dict[str, float] = Field(
        default_factory=dict, description="Seconds spent in inference, per engine."
    )


def holds(beat: WorkerHeartbeat, model_id: str) -> bool:
    """True if the worker has ``model_id`` loaded."""
    return any(m.id == model_id for m in beat.loaded_models)


async def publish(redis: Redis, beat: WorkerHeartbeat, ttl_s: float) -> None:
    """Write the heartbeat with a TTL; the key vanishes if the worker stops refreshing it."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(
            keys.worker_heartbeat(beat.worker_id), beat.model_dump_json(), px=int(ttl_s * 1000)
        )
        pipe.sadd(keys.WORKERS, beat.worker_id)
        await pipe.execute()


async def withdraw(redis: Redis, worker_id: str) -> None:
    """Remove a worker's heartbeat at clean shutdown."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(keys.worker_heartbeat(worker_id))
        pipe.srem(keys.WORKERS, worker_id)
        await pipe.execute()


async def is_alive(redis: Redis, worker_id: str) -> bool:
    """True while the worker's heartbeat has not expired."""
    return bool(await redis.exists(keys.worker_heartbeat(worker_id)))


async def live_workers(redis: Redis) -> list[WorkerHeartbeat]:
    """Heartbeats of every live worker; forgets workers whose heartbeat expired."""
    members: set[bytes] = await redis.smembers(keys.WORKERS)  # type: ignore[misc]
    ids = sorted(member.decode() for member in members)
    if not ids:
        return []
    raw = await redis.mget([keys.worker_heartbeat(worker_id) for worker_id in ids])
    dead = [worker_id for worker_id, value in zip(ids, raw, strict=True) if value is None]
    if dead:
        await redis.srem(keys.WORKERS, *dead)  # type: ignore[misc]
    return [WorkerHeartbeat.model_validate_json(value) for value in raw if value is not None]
