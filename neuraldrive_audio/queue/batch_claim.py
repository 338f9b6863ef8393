"""Claiming waiting jobs from a lane's sorted set for a batch (dynamic batching).

arq picks one job at a time: it reads ids from the lane's sorted set and starts one when
its ``arq:in-progress:<id>`` key can be set under WATCH (so no two workers run it). The job
a worker picked (the batch's leader) claims compatible waiting jobs the same way, so no
other worker runs them, and runs them with itself. Claimed jobs stay in the sorted set
while they run, as arq's own running jobs do, and :func:`finish` clears them like arq's
``finish_job`` (no result key: callers read results from the job's event stream).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms
from redis.asyncio import Redis
from redis.exceptions import WatchError

from neuraldrive_audio.queue.lanes import Lane

RETRY_KEY_TTL_S = 88_400
"""arq keeps a job's try counter this long."""


@dataclass(frozen=True)
class WaitingJob:
    """A job in a lane's sorted set that no worker has started."""

    job_id: str
    function: str
    payload: dict[str, Any]
    enqueue_time_ms: int


async def waiting(redis: Redis, lane: Lane, exclude: str, limit: int) -> list[WaitingJob]:
    """Up to ``limit`` jobs due in ``lane`` that nobody runs and nobody aborted, oldest first."""
    raw_ids = await redis.zrangebyscore(
        lane.queue_name, min=float("-inf"), max=timestamp_ms(), start=0, num=limit + 1
    )
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in raw_ids]
    ids = [i for i in ids if i != exclude][:limit]
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(in_progress_key_prefix + job_id)
            pipe.get(job_key_prefix + job_id)
            pipe.zscore(abort_jobs_ss, job_id)
        replies = await pipe.execute()
    jobs = []
    for n, job_id in enumerate(ids):
        running, data, aborted = replies[3 * n : 3 * n + 3]
        if running or aborted is not None or data is None:
            continue
        job = _parse(job_id, data)
        if job is not None:
            jobs.append(job)
    return jobs


def _parse(job_id: str, data: bytes) -> WaitingJob | None:
    # arq's job record, serialised by queue.connection.serialize_job (JSON).
    try:
        record = json.loads(data)
        args = record.get("a") or []
        if not args or not isinstance(args[0], dict):
            return None
        return WaitingJob(job_id, str(record["f"]), args[0], int(record.get("et") or 0))
    except (ValueError, KeyError, TypeError):
        return None  # not ours to batch; arq will report it


async def claim(redis: Redis, lane: Lane, job_ids: list[str], in_progress_ms: int) -> list[str]:
    """Atomically mark each job as started by this worker, as arq's own pick does; the ids
    that were still waiting (another worker may have taken some meanwhile)."""
    claimed = []
    for job_id in job_ids:
        in_progress = in_progress_key_prefix + job_id
        async with redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(in_progress)
                taken = await pipe.exists(in_progress)
                score = await pipe.zscore(lane.queue_name, job_id)
                if taken or score is None or score > timestamp_ms():
                    continue
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.psetex(in_progress, in_progress_ms, b"1")
                pipe.incr(retry_key_prefix + job_id)
                pipe.expire(retry_key_prefix + job_id, RETRY_KEY_TTL_S)
                await pipe.execute()
            except WatchError:
                continue  # another worker started it between our look and our claim
        claimed.append(job_id)
    return claimed


async def job_try(redis: Redis, job_id: str) -> int:
    """The attempt number of a claimed job (arq's try counter)."""
    value = await redis.get(retry_key_prefix + job_id)
    return int(value or 1)


async def aborted(redis: Redis, job_ids: list[str]) -> set[str]:
    """Which of ``job_ids`` the API asked to abort (``JobQueue.abort``); they are taken off
    the abort set, as arq does for the jobs it cancels."""
    if not job_ids:
        return set()
    scores = await redis.zmscore(abort_jobs_ss, job_ids)
    hit = {job_id for job_id, score in zip(job_ids, scores, strict=True) if score is not None}
    if hit:
        await redis.zrem(abort_jobs_ss, *hit)
    return hit


async def finish(redis: Redis, lane: Lane, job_id: str) -> None:
    """A claimed job ended (done, failed or cancelled): clear it as arq clears its own."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(
            in_progress_key_prefix + job_id, retry_key_prefix + job_id, job_key_prefix + job_id
        )
        pipe.zrem(abort_jobs_ss, job_id)
        pipe.zrem(lane.queue_name, job_id)
        await pipe.execute()
