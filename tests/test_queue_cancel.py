"""Cancelling a task that waits on Redis stops it, whenever the cancel lands.

A barge-in cancels the reply pipeline while it follows a speech job; the follower must
end (and abort the job). With redis-py's ``socket_timeout`` every command is sent
through ``asyncio.wait_for``, which on Python 3.11 drops a cancel that arrives as the
send completes: the follower then read the job to its end and waited forever. Real
redis-server, our own ``connect``; the cancel is swept across the first loop turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from neuraldrive_audio.queue import heartbeat
from neuraldrive_audio.queue.client import JobQueue
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from tests.harness import RedisServer

TURNS = 40
"""Loop turns to sweep the cancel over: a send and a blocking read take a few each."""


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[JobQueue]:
    redis = await connect(f"{redis_server.url}/3")
    beat = WorkerHeartbeat(worker_id="w-cancel", hostname="h", pid=1, device="cpu", started_at=0)
    await heartbeat.publish(redis, beat, ttl_s=60)  # a live worker: follow keeps waiting
    yield JobQueue(redis, max_depth=10, event_ttl_s=60, job_ttl_s=60)
    await heartbeat.withdraw(redis, "w-cancel")
    await redis.aclose()


async def _follow(queue: JobQueue, job_id: str) -> None:
    async for _ in queue.follow(job_id, timeout_s=60):
        pass


async def test_cancel_stops_a_follower_at_any_moment(queue: JobQueue) -> None:
    lost = []
    for turns in range(TURNS):
        task = asyncio.create_task(_follow(queue, f"job_cancel_{turns}"))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=3)
        if not (done and task.cancelled()):
            lost.append(turns)
            task.cancel()
            await asyncio.wait({task}, timeout=3)
    assert not lost, f"the cancel was lost after {lost} loop turns"
