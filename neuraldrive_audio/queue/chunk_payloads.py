"""What chunks of asynchronous jobs carry through Redis, so hosts share nothing else.

The API (``api.background.job_feeder``) puts a chunk's input audio in Redis and reserves
its bytes in the in-flight ledger before it queues the chunk; a worker reads the input,
stores its result once (``HSETNX``: a chunk that runs twice counts once) and drops the
input; the API collects the result to its data dir and releases the reservation. The sum of
the ledger is what job payloads hold in Redis, and the API feeds more only while it stays
under the cap.
"""

from __future__ import annotations

from redis.asyncio import Redis

from neuraldrive_audio.queue import keys


class PayloadMissingError(LookupError):
    """Input a job needs is gone from Redis (expired, or the job was deleted)."""


def ledger_field(job_id: str, index: int) -> str:
    """The chunk's field in the in-flight ledger."""
    return f"{job_id}:{index}"


async def inflight_bytes(redis: Redis) -> int:
    """Bytes reserved by chunks fed and not yet collected, over every job."""
    values: list[bytes] = await redis.hvals(keys.CHUNKS_INFLIGHT)  # type: ignore[misc]
    return sum(int(v) for v in values)


async def reserve(
    redis: Redis, job_id: str, index: int, reserved: int, audio: bytes | None, ttl_s: int
) -> None:
    """Book ``reserved`` bytes for a chunk about to be queued, storing its input audio."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.CHUNKS_INFLIGHT, ledger_field(job_id, index), str(reserved))
        if audio is not None:
            pipe.set(keys.chunk_input(job_id, index), audio, ex=ttl_s)
        pipe.incr(keys.job_chunks_fed(job_id))
        pipe.expire(keys.job_chunks_fed(job_id), ttl_s)
        await pipe.execute()


async def chunk_input(redis: Redis, job_id: str, index: int) -> bytes:
    """A chunk's input audio; PayloadMissingError when it is not (or no longer) there."""
    data: bytes | None = await redis.get(keys.chunk_input(job_id, index))
    if data is None:
        raise PayloadMissingError(f"the input of chunk {index} is no longer in the queue")
    return data


async def already_delivered(redis: Redis, job_id: str, index: int) -> bool:
    """True once some attempt of this chunk stored its result."""
    return bool(await redis.hexists(keys.job_chunk_workers(job_id), str(index)))  # type: ignore[misc]


async def deliver(
    redis: Redis, job_id: str, index: int, result: bytes, worker_id: str, ttl_s: int
) -> bool:
    """Store a chunk's result unless another attempt did; drop its input. False if late."""
    field = str(index)
    if await already_delivered(redis, job_id, index):
        return False  # a twin's result counted (and may already be collected)
    results_key = keys.job_chunk_results(job_id)
    if not await redis.hsetnx(results_key, field, result):  # type: ignore[arg-type,misc]
        return False
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(keys.job_chunk_workers(job_id), field, worker_id)
        pipe.expire(keys.job_chunk_workers(job_id), ttl_s)
        pipe.expire(keys.job_chunk_results(job_id), ttl_s)
        pipe.delete(keys.chunk_input(job_id, index))
        await pipe.execute()
    return True


async def results(redis: Redis, job_id: str) -> dict[int, bytes]:
    """Results stored and not yet collected, by chunk index."""
    raw: dict[bytes, bytes] = await redis.hgetall(keys.job_chunk_results(job_id))  # type: ignore[misc]
    return {int(k): v for k, v in raw.items()}


async def workers(redis: Redis, job_id: str) -> dict[int, str]:
    """Which worker's result counted, by chunk index."""
    raw: dict[bytes, bytes] = await redis.hgetall(keys.job_chunk_workers(job_id))  # type: ignore[misc]
    return {int(k): v.decode() for k, v in raw.items()}


async def release(redis: Redis, job_id: str, index: int) -> None:
    """A result is safe on the API host: free it and its reservation."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.job_chunk_results(job_id), str(index))
        pipe.hdel(keys.CHUNKS_INFLIGHT, ledger_field(job_id, index))
        await pipe.execute()


async def fed(redis: Redis, job_id: str) -> int:
    """How many chunks of the job were queued so far."""
    return int(await redis.get(keys.job_chunks_fed(job_id)) or 0)


async def discard(redis: Redis, job_id: str, chunks: int) -> None:
    """Drop every payload of a job that ended (inputs, results, reservations, counters)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(
            keys.job_chunk_results(job_id),
            keys.job_chunk_workers(job_id),
            keys.job_chunks_fed(job_id),
            *(keys.chunk_input(job_id, i) for i in range(chunks)),
        )
        if chunks:
            pipe.hdel(keys.CHUNKS_INFLIGHT, *(ledger_field(job_id, i) for i in range(chunks)))
        await pipe.execute()
