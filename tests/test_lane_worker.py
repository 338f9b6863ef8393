"""Lane workers block on their wake channel instead of polling (fakeredis, no models)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import fakeredis
import fakeredis.aioredis
import pytest
import redis.asyncio
from arq.connections import ArqRedis

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import events, keys, wake
from neuraldrive_audio.queue.connection import deserialize_job, serialize_job
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.lanes import INTERACTIVE
from neuraldrive_audio.workers import main as worker_main

SAFETY_POLL_S = 60.0  # far longer than the test: every pickup below comes from a wake


@pytest.fixture
def arq_redis() -> Iterator[ArqRedis]:
    pool = redis.asyncio.ConnectionPool(
        connection_class=fakeredis.aioredis.FakeAsyncRedisConnection, server=fakeredis.FakeServer()
    )
    yield ArqRedis(
        connection_pool=pool, job_serializer=serialize_job, job_deserializer=deserialize_job
    )


async def _done(redis: ArqRedis, job_id: str, within_s: float) -> bool:
    async def wait() -> None:
        async for event in events.follow(redis, job_id, block_ms=50):
            if event is not None and event.type is EventType.DONE:
                return

    try:
        await asyncio.wait_for(wait(), within_s)
    except TimeoutError:
        return False
    return True


async def test_an_idle_worker_sleeps_until_woken_and_still_picks_up_at_once(
    arq_redis: ArqRedis, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "m",
                        worker_idle_poll_s=SAFETY_POLL_S)  # fmt: skip
    state = worker_main.build_state(settings, arq_redis)
    worker = worker_main._lane_worker(state, INTERACTIVE, arq_redis)
    running = asyncio.create_task(worker.async_run())
    try:
        await asyncio.sleep(0.5)
        idle_polls = worker.polls
        assert idle_polls <= 2  # arq's loop would have polled ~50 times at 10 ms

        await arq_redis.enqueue_job(keys.PING_FUNCTION, {"job_id": "ping-1"}, _job_id="ping-1",
                                    _queue_name=INTERACTIVE.queue_name)  # fmt: skip
        await wake.wake(arq_redis, INTERACTIVE)  # what JobQueue.submit does after enqueueing
        assert await _done(arq_redis, "ping-1", within_s=5)

        # A deferred job (arq retry, affinity hand-back) is picked when due, without a wake.
        await arq_redis.enqueue_job(keys.PING_FUNCTION, {"job_id": "ping-2"}, _job_id="ping-2",
                                    _queue_name=INTERACTIVE.queue_name,
                                    _defer_by=timedelta(seconds=0.3))  # fmt: skip
        assert await _done(arq_redis, "ping-2", within_s=5)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await state.cache.close()
