"""Lane workers block on their wake channel instead of polling (fakeredis, no models)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.typing import WorkerCoroutine
from arq.worker import func

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import events, job_chunks, keys, wake
from neuraldrive_audio.queue.connection import deserialize_job, serialize_job
from neuraldrive_audio.queue.events import EventType
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.lanes import BATCH, INTERACTIVE
from neuraldrive_audio.workers import affinity
from neuraldrive_audio.workers import main as worker_main
from neuraldrive_audio.workers.lane_worker import LaneWorker

SAFETY_POLL_S = 60.0  # far longer than the test: every pickup below comes from a wake


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


@pytest.fixture
async def interactive_worker(arq_redis: ArqRedis, tmp_path: Path) -> AsyncIterator[LaneWorker]:
    """An interactive-lane worker as the worker process builds it (not yet running)."""
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "m",
                        worker_idle_poll_s=SAFETY_POLL_S)  # fmt: skip
    state = worker_main.build_state(settings, arq_redis)
    yield worker_main._lane_worker(state, INTERACTIVE, arq_redis)
    await state.cache.close()


async def test_an_idle_worker_sleeps_until_woken_and_still_picks_up_at_once(
    arq_redis: ArqRedis, interactive_worker: LaneWorker
) -> None:
    worker = interactive_worker
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


def _chunk_lane(redis: ArqRedis, functions: dict[str, WorkerCoroutine]) -> LaneWorker:
    """A batch-lane worker (one job at a time, like a real one) that only wakes up."""
    return LaneWorker(
        lane_name=BATCH.name,
        idle_poll_s=SAFETY_POLL_S,
        functions=[func(f, name=name) for name, f in functions.items()],  # type: ignore[arg-type]
        queue_name=BATCH.queue_name,
        redis_pool=redis,
        max_jobs=1,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        handle_signals=False,
    )


@contextlib.asynccontextmanager
async def _running(workers: list[LaneWorker]) -> AsyncIterator[None]:
    """The workers' loops as tasks, cancelled on the way out."""
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_chunks_a_worker_enqueues_are_picked_without_waiting_for_a_poll(
    arq_redis: ArqRedis,
) -> None:
    # A planning job queues its chunks while it still runs (its lane is full): the first
    # chunk starts when planning ends and each next one when the previous ends, through
    # the worker's own wake on a freed slot, never after the 60 s safety poll.
    ran: list[str] = []
    all_ran = asyncio.Event()

    async def plan(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        for index in range(3):
            chunk = ChunkJob(function="chunk", job_id="job-1", index=index)
            await job_chunks.enqueue(arq_redis, chunk)
        await asyncio.sleep(0.2)  # the wakes above arrive while this job holds the slot
        ran.append("plan")

    async def chunk(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        ran.append(f"chunk {payload['index']}")
        if len(ran) == 4:
            all_ran.set()

    worker = _chunk_lane(arq_redis, {"plan": plan, "chunk": chunk})
    running = asyncio.create_task(worker.async_run())
    try:
        await asyncio.sleep(0.3)  # idle and subscribed
        await job_chunks.enqueue(arq_redis, ChunkJob(function="plan", job_id="job-1", index=-1))
        await asyncio.wait_for(all_ran.wait(), 5)
        assert ran == ["plan", "chunk 0", "chunk 1", "chunk 2"]
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running


async def test_a_chunk_queued_by_a_busy_worker_wakes_an_idle_one_at_once(
    arq_redis: ArqRedis,
) -> None:
    # Two workers: the one planning is busy, the idle one takes the chunk while the
    # planning job still runs (the enqueue published on the batch lane's wake channel).
    planning_done = asyncio.Event()
    chunk_started_during_planning: list[bool] = []
    chunk_ran = asyncio.Event()

    async def plan(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        await job_chunks.enqueue(arq_redis, ChunkJob(function="chunk", job_id="job-1", index=0))
        await asyncio.sleep(1.0)
        planning_done.set()

    async def chunk(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        chunk_started_during_planning.append(not planning_done.is_set())
        chunk_ran.set()

    async with _running([_chunk_lane(arq_redis, {"plan": plan, "chunk": chunk}) for _ in range(2)]):
        await asyncio.sleep(0.3)
        await job_chunks.enqueue(arq_redis, ChunkJob(function="plan", job_id="job-1", index=-1))
        await asyncio.wait_for(chunk_ran.wait(), 5)
        assert chunk_started_during_planning == [True]


async def test_a_handed_back_job_runs_on_the_other_worker_at_once(arq_redis: ArqRedis) -> None:
    # Affinity hands a job back (arq Retry) and the worker stands aside: the job must reach
    # the other, idle worker without waiting for its safety poll. It stalled ~10 s when
    # nobody was woken after the hand-back (two workers alternating two models).
    tried_on: list[LaneWorker] = []
    ran_on: list[LaneWorker] = []
    ran = asyncio.Event()

    async def work(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        if not tried_on:
            tried_on.append(ctx["arq_worker"])
            affinity.hand_back(ctx)
        ran_on.append(ctx["arq_worker"])
        ran.set()

    async with _running([_chunk_lane(arq_redis, {"work": work}) for _ in range(2)]):
        await asyncio.sleep(0.3)  # both idle and subscribed
        await job_chunks.enqueue(arq_redis, ChunkJob(function="work", job_id="job-1", index=0))
        await asyncio.wait_for(ran.wait(), 3)
        assert ran_on[0] is not tried_on[0]


async def test_a_signal_arriving_with_a_wake_still_stops_the_worker(
    interactive_worker: LaneWorker,
) -> None:
    """SIGTERM in the same loop turn as a wake (a job ending as the service stops): the
    idle wait must not swallow the cancellation, or the worker never exits."""
    worker = interactive_worker
    running = asyncio.create_task(worker.async_run())
    try:
        await asyncio.sleep(0.3)  # idle, waiting to be woken
        worker.wake()
        worker.handle_sig(signal.SIGTERM)
        done, _ = await asyncio.wait([running], timeout=5)
        assert done, "the worker kept running after SIGTERM"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
